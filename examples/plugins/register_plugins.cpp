// The entry point octet::load_plugin_library (and --plugins) calls once per library.
#include "example_plugins.h"

extern "C" __attribute__((visibility("default"))) void octet_register_plugins(octet::PluginRegistry& registry) {
  registry.register_creator(octet_examples::make_swish_creator());
  registry.register_creator(octet_examples::make_fully_connected_creator());
}
