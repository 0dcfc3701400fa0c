// The global plugin registry and plugin library loading.
#include <dlfcn.h>

#include <algorithm>
#include <set>

#include "octet/plugin.h"
#include "plugins/plugin_node.h"

namespace octet {

namespace {
// The creator registered under that key, or creators.end().
auto find_creator(const std::vector<std::unique_ptr<IPluginCreator>>& creators, const std::string& name,
                  const std::string& version, const std::string& plugin_namespace) {
  return std::find_if(creators.begin(), creators.end(), [&](const auto& c) {
    return c->name() == name && c->version() == version && c->plugin_namespace() == plugin_namespace;
  });
}
}  // namespace

PluginRegistry& PluginRegistry::global() {
  static PluginRegistry registry;
  return registry;
}

void PluginRegistry::register_creator(std::unique_ptr<IPluginCreator> creator) {
  if (!creator) throw Error("cannot register a null plugin creator");
  const std::string name = creator->name(), version = creator->version(), ns = creator->plugin_namespace();
  std::lock_guard lock(mutex_);
  if (find_creator(creators_, name, version, ns) != creators_.end())
    throw Error(describe_plugin(name, version, ns) + " is already registered");
  creators_.push_back(std::move(creator));
}

bool PluginRegistry::deregister_creator(const std::string& name, const std::string& version,
                                        const std::string& plugin_namespace) {
  std::lock_guard lock(mutex_);
  const auto it = find_creator(creators_, name, version, plugin_namespace);
  if (it == creators_.end()) return false;
  creators_.erase(it);
  return true;
}

const IPluginCreator* PluginRegistry::find(const std::string& name, const std::string& version,
                                           const std::string& plugin_namespace) const {
  std::lock_guard lock(mutex_);
  const auto it = find_creator(creators_, name, version, plugin_namespace);
  return it == creators_.end() ? nullptr : it->get();
}

std::string PluginRegistry::describe() const {
  std::lock_guard lock(mutex_);
  std::string s;
  for (const auto& c : creators_) {
    s += (s.empty() ? "" : ", ") + c->name() + " " + c->version();
    if (!c->plugin_namespace().empty()) s += " (" + c->plugin_namespace() + ")";
  }
  return s.empty() ? "none" : s;
}

void load_plugin_library(const std::string& path) {
  // A bare name would make dlopen search the library path; a plugin is named by its file.
  const std::string file = path.find('/') == std::string::npos ? "./" + path : path;
  void* handle = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) throw Error(path + ": cannot load plugin library: " + dlerror());
  // dlopen hands back the same handle for a library already loaded: register once.
  static std::mutex mutex;
  static std::set<void*> registered;
  std::lock_guard lock(mutex);
  if (registered.count(handle)) return;
  dlerror();
  auto* entry = reinterpret_cast<void (*)(PluginRegistry&)>(dlsym(handle, kPluginEntryPoint));
  if (!entry) {
    const std::string why = dlerror();
    dlclose(handle);
    throw Error(path + ": not an octet plugin library (" + why + ")");
  }
  try {
    entry(PluginRegistry::global());
  } catch (const std::exception& e) {
    throw Error(path + ": registering its plugins failed: " + e.what());
  }
  registered.insert(handle);  // kept loaded: its creators are registered
}

}  // namespace octet
