// The creators of the example plugins, registered by register_plugins.cpp.
#pragma once
#include <memory>

#include "octet/plugin.h"

namespace octet_examples {

std::unique_ptr<octet::IPluginCreator> make_swish_creator();
std::unique_ptr<octet::IPluginCreator> make_fully_connected_creator();

}  // namespace octet_examples
