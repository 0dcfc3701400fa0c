// Engine and its plan file. Layout (all integers little-endian; docs/plan_format.md):
//   magic "OCTETPLN" | u32 format version | str octet version | str target |
//   u64 payload size | u8 n | n zero bytes | payload | u64 FNV-1a checksum of the payload
// The payload holds the engine info, scales and the network (opsets, inputs,
// outputs, initializers, nodes with attributes). The n bytes start the payload
// at a multiple of kAlignment in the file, and every tensor's data sits at a
// multiple of kAlignment in the payload: Engine::load maps the file and the
// weights are used where they lie.
#include "octet/engine.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "octet/calibration_cache.h"
#include "plugins/plugin_node.h"

namespace octet {
namespace {

constexpr char kMagic[8] = {'O', 'C', 'T', 'E', 'T', 'P', 'L', 'N'};
constexpr uint32_t kFormatVersion = 3;
constexpr size_t kAlignment = 64;  // what SIMD loads and oneDNN's own buffers use

size_t padding_to_alignment(size_t offset) { return (kAlignment - offset % kAlignment) % kAlignment; }
#ifndef OCTET_VERSION
#define OCTET_VERSION "dev"
#endif

// ISA features of this CPU that optimised kernels may be chosen for (GCC's
// names), in a fixed order. AMX also needs the OS to enable tile state (XCR0).
std::vector<std::string> cpu_features() {
  std::vector<std::string> features;
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2")) features.push_back("avx2");
  if (__builtin_cpu_supports("avx512f")) features.push_back("avx512f");
  if (__builtin_cpu_supports("avx512bw")) features.push_back("avx512bw");
  if (__builtin_cpu_supports("avx512vl")) features.push_back("avx512vl");
  if (__builtin_cpu_supports("avx512vnni")) features.push_back("avx512vnni");
  if (__builtin_cpu_supports("avx512bf16")) features.push_back("avx512bf16");
  unsigned eax, ebx, ecx, edx;
  const bool amx_int8 = __get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) && (edx >> 24 & 1) && (edx >> 25 & 1);
  const bool os_saves_xstate = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx >> 27 & 1);  // OSXSAVE
  if (amx_int8 && os_saves_xstate) {
    uint32_t xcr0_lo, xcr0_hi;
    asm volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    if ((xcr0_lo >> 17 & 3) == 3) features.push_back("amx-int8");  // XTILECFG and XTILEDATA
  }
#endif
  return features;
}

// The machine a plan runs on: "cpu:ARCH", then ":" and its ISA features
// (comma-separated) when it has any. A plan needs its architecture and every
// feature it lists.
const std::string& current_target() {
  static const std::string target = [] {
#if defined(__x86_64__)
    std::string t = "cpu:x86_64";
#elif defined(__aarch64__)
    std::string t = "cpu:aarch64";
#else
    std::string t = "cpu:unknown";
#endif
    const std::vector<std::string> features = cpu_features();
    for (size_t i = 0; i < features.size(); ++i) t += (i ? "," : ":") + features[i];
    return t;
  }();
  return target;
}

struct Target {
  std::string arch;                   // "cpu:x86_64"
  std::vector<std::string> features;  // "avx2", ...
};

Target parse_target(const std::string& target) {
  const size_t colon = target.find(':', target.find(':') + 1);
  Target t{target.substr(0, colon), {}};
  if (colon == std::string::npos) return t;
  std::stringstream list(target.substr(colon + 1));
  for (std::string feature; std::getline(list, feature, ',');) t.features.push_back(feature);
  return t;
}

// Refuses a plan for another architecture or needing features this CPU lacks; a
// plan built on a CPU with fewer features loads.
void check_target(const std::string& plan_target, const std::string& origin) {
  if (plan_target.rfind("cuda:", 0) == 0) {
    const std::string why = why_no_cuda_device();
    if (!why.empty()) throw Error(origin + ": plan was built for GPU target '" + plan_target + "'; " + why);
    const std::string here = cuda_device_target();
    if (here != plan_target)
      throw Error(origin + ": plan was built for GPU target '" + plan_target + "', this GPU is '" + here +
                  "' (rebuild the plan on this GPU)");
    return;
  }
  const Target wanted = parse_target(plan_target), here = parse_target(current_target());
  if (wanted.arch != here.arch)
    throw Error(origin + ": plan was built for target '" + plan_target + "', this machine is '" + current_target() + "'");
  std::string missing;
  size_t missing_count = 0;
  for (const auto& feature : wanted.features)
    if (std::find(here.features.begin(), here.features.end(), feature) == here.features.end())
      missing += (missing_count++ ? ", " : "") + feature;
  if (missing_count)
    throw Error(origin + ": plan was built for a CPU with " + missing + "; this machine lacks " +
                (missing_count == 1 ? "it" : "them") + " (rebuild the plan on this machine)");
}

uint64_t fnv1a(const char* p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; ++i) h = (h ^ static_cast<unsigned char>(p[i])) * 0x100000001b3ull;
  return h;
}

class Writer {
 public:
  template <class T> void pod(T v) { out_.append(reinterpret_cast<const char*>(&v), sizeof v); }
  void str(std::string_view s) {
    pod<uint64_t>(s.size());
    out_.append(s);
  }
  void shape(const Shape& s) {
    pod<uint64_t>(s.size());
    for (int64_t d : s) pod<int64_t>(d);
  }
  void tensor(const Tensor& t) {
    pod<uint8_t>(static_cast<uint8_t>(t.dtype()));
    pod<uint32_t>(t.rank());
    for (int64_t d : t.shape()) pod<int64_t>(d);
    out_.append(padding_to_alignment(out_.size()), '\0');
    out_.append(static_cast<const char*>(t.raw()), t.nbytes());
  }
  std::string& bytes() { return out_; }

 private:
  std::string out_;
};

class Reader {
 public:
  // Tensors are copied out of `bytes`, or viewed in place when `owner` keeps them alive.
  Reader(std::string_view bytes, const std::string& origin, std::shared_ptr<void> owner = nullptr)
      : in_(bytes), origin_(origin), owner_(std::move(owner)) {}
  template <class T> T pod() {
    T v;
    std::memcpy(&v, take(sizeof v), sizeof v);
    return v;
  }
  std::string str() {
    uint64_t n = pod<uint64_t>();
    return std::string(take(n), n);
  }
  Shape shape() {
    Shape s(count(8));
    for (auto& d : s) d = pod<int64_t>();
    return s;
  }
  Tensor tensor() {
    auto dtype = static_cast<DType>(pod<uint8_t>());
    if (dtype_size(dtype) == 0) throw Error(origin_ + ": corrupt plan (bad tensor type)");
    uint32_t rank = pod<uint32_t>();
    if (rank > 16) throw Error(origin_ + ": corrupt plan (tensor rank " + std::to_string(rank) + ")");
    Shape shape(rank);
    uint64_t numel = 1;
    for (auto& d : shape) {
      d = pod<int64_t>();
      if (d < 0 || (d > 0 && numel > (uint64_t{1} << 40) / static_cast<uint64_t>(d)))
        throw Error(origin_ + ": corrupt plan (tensor dimension " + std::to_string(d) + ")");
      numel *= static_cast<uint64_t>(d);
    }
    take(padding_to_alignment(pos_));
    const char* data = take(numel * dtype_size(dtype));
    if (owner_) return Tensor::view(dtype, std::move(shape), const_cast<char*>(data), owner_);
    Tensor t(dtype, shape);
    std::memcpy(t.raw(), data, t.nbytes());
    return t;
  }
  // A count of items each at least `item_bytes` long, checked against what is left,
  // so a corrupt count cannot trigger a huge allocation.
  uint64_t count(uint64_t item_bytes = 1) {
    uint64_t n = pod<uint64_t>();
    if (n > (in_.size() - pos_) / item_bytes) throw Error(origin_ + ": truncated or corrupt plan file");
    return n;
  }
  bool done() const { return pos_ == in_.size(); }

 private:
  const char* take(uint64_t n) {
    if (n > in_.size() - pos_) throw Error(origin_ + ": truncated plan file");
    const char* p = in_.data() + pos_;
    pos_ += n;
    return p;
  }
  std::string_view in_;
  std::string origin_;
  std::shared_ptr<void> owner_;
  size_t pos_ = 0;
};

void write_value_info(Writer& w, const ValueInfo& v) {
  w.str(v.name);
  w.pod<uint8_t>(static_cast<uint8_t>(v.dtype));
  w.pod<uint8_t>(v.has_shape);
  w.pod<uint64_t>(v.dims.size());
  for (const auto& d : v.dims) w.pod<int64_t>(d.value), w.str(d.symbol);
}

ValueInfo read_value_info(Reader& r) {
  ValueInfo v;
  v.name = r.str();
  v.dtype = static_cast<DType>(r.pod<uint8_t>());
  v.has_shape = r.pod<uint8_t>() != 0;
  v.dims.resize(r.count(16));
  for (auto& d : v.dims) d.value = r.pod<int64_t>(), d.symbol = r.str();
  return v;
}

void write_attribute(Writer& w, const Attribute& a) {
  w.pod<uint8_t>(static_cast<uint8_t>(a.index()));
  std::visit([&](const auto& v) {
    using V = std::decay_t<decltype(v)>;
    if constexpr (std::is_same_v<V, int64_t> || std::is_same_v<V, float>) w.pod(v);
    else if constexpr (std::is_same_v<V, std::string>) w.str(v);
    else if constexpr (std::is_same_v<V, Tensor>) w.tensor(v);
    else if constexpr (std::is_same_v<V, std::vector<std::string>>) {
      w.pod<uint64_t>(v.size());
      for (const auto& s : v) w.str(s);
    } else {
      w.pod<uint64_t>(v.size());
      for (auto x : v) w.pod(x);
    }
  }, a);
}

Attribute read_attribute(Reader& r, const std::string& origin) {
  auto read_list = [&](auto element) {
    using E = decltype(element);
    std::vector<E> v(r.count(sizeof(E)));
    for (auto& x : v) x = r.pod<E>();
    return v;
  };
  switch (r.pod<uint8_t>()) {
    case 0: return r.pod<int64_t>();
    case 1: return r.pod<float>();
    case 2: return r.str();
    case 3: return r.tensor();
    case 4: return read_list(int64_t{});
    case 5: return read_list(float{});
    case 6: {
      std::vector<std::string> v(r.count(8));
      for (auto& s : v) s = r.str();
      return v;
    }
  }
  throw Error(origin + ": corrupt plan (bad attribute kind)");
}

}  // namespace

Engine::Engine(Graph graph, std::map<std::string, float> scales, EngineInfo info)
    : graph_(std::move(graph)), scales_(std::move(scales)), info_(std::move(info)) {}

std::string Engine::layer_precision(const Node& node) const {
  if (node.domain == "octet" && node.op_type.rfind("Int8", 0) == 0) return "int8";
  if (!node.backend.empty())
    if (const KernelDef* def = KernelRegistry::global().find(node.domain, node.op_type, graph_.opset(node.domain), node.backend);
        def && def->reduced_precision == DType::kBFloat16)
      return "bf16";
  // FP16 engines' layers: float16 weights or outputs (convert_to_float16).
  for (const auto& in : node.inputs)
    if (auto it = graph_.initializers.find(in); it != graph_.initializers.end() && it->second.dtype() == DType::kFloat16)
      return "fp16";
  if (const ValueInfo* v = node.outputs.empty() ? nullptr : graph_.find_value(node.outputs[0]); v && v->dtype == DType::kFloat16)
    return "fp16";
  // Layers INT8 flows through (MaxPool, Flatten, ...) produce INT8 tensors.
  bool int8_outputs = !node.outputs.empty() && node.op_type != "QuantizeLinear";
  for (const auto& out : node.outputs) int8_outputs &= scales_.count(out) != 0;
  return int8_outputs ? "int8" : "fp32";
}

std::string Engine::serialize() const {
  Writer p;
  p.str(info_.precision);
  p.str(info_.calibration);
  p.str(info_.network_fingerprint);
  p.pod<uint64_t>(info_.profile.opt.size());
  for (const auto& [name, opt] : info_.profile.opt)
    p.str(name), p.shape(info_.profile.min.at(name)), p.shape(opt), p.shape(info_.profile.max.at(name));
  p.pod<int64_t>(info_.sub_batch);
  p.pod<uint64_t>(scales_.size());
  for (const auto& [name, s] : scales_) p.str(name), p.pod(s);
  p.str(graph_.name);
  p.pod<uint64_t>(graph_.opsets.size());
  for (const auto& [domain, version] : graph_.opsets) p.str(domain), p.pod(version);
  for (const auto* list : {&graph_.inputs, &graph_.outputs}) {
    p.pod<uint64_t>(list->size());
    for (const auto& v : *list) write_value_info(p, v);
  }
  p.pod<uint64_t>(graph_.value_info.size());
  for (const auto& [name, v] : graph_.value_info) write_value_info(p, v);
  p.pod<uint64_t>(graph_.initializers.size());
  for (const auto& [name, t] : graph_.initializers) p.str(name), p.tensor(t);
  p.pod<uint64_t>(graph_.nodes.size());
  for (const auto& n : graph_.nodes) {
    p.str(n.name), p.str(n.op_type), p.str(n.domain), p.str(n.backend);
    for (const auto* list : {&n.inputs, &n.outputs}) {
      p.pod<uint64_t>(list->size());
      for (const auto& s : *list) p.str(s);
    }
    p.pod<uint64_t>(n.attributes.size());
    for (const auto& [key, a] : n.attributes) p.str(key), write_attribute(p, a);
  }

  Writer file;
  file.bytes().append(kMagic, sizeof kMagic);
  file.pod<uint32_t>(kFormatVersion);
  file.str(OCTET_VERSION);
  file.str(info_.device == Device::kCuda ? cuda_device_target() : current_target());
  file.pod<uint64_t>(p.bytes().size());
  const size_t padding = padding_to_alignment(file.bytes().size() + 1);
  file.pod<uint8_t>(static_cast<uint8_t>(padding));
  file.bytes().append(padding, '\0');
  file.bytes() += p.bytes();
  file.pod<uint64_t>(fnv1a(p.bytes().data(), p.bytes().size()));
  return std::move(file.bytes());
}

namespace {

// The engine in plan `bytes`; its weights view `bytes` when `owner` keeps them alive, else are copied.
Engine read_plan(std::string_view bytes, const std::string& origin, std::shared_ptr<void> owner) {
  // A file cut inside the magic (an empty one included) is a truncated plan, not a foreign file.
  if (bytes.size() < sizeof kMagic && (bytes.empty() || std::memcmp(bytes.data(), kMagic, bytes.size()) == 0))
    throw Error(origin + ": truncated plan file (" + std::to_string(bytes.size()) + " bytes)");
  if (bytes.size() < sizeof kMagic || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0)
    throw Error(origin + ": not an octet plan file (bad magic)");
  Reader header(bytes.substr(sizeof kMagic), origin);
  const auto version = header.pod<uint32_t>();
  if (version != kFormatVersion)
    throw Error(origin + ": plan format version " + std::to_string(version) + " is not supported (this octet reads version " +
                std::to_string(kFormatVersion) + "); rebuild the plan");
  const std::string built_by = header.str();
  if (built_by != OCTET_VERSION)
    throw Error(origin + ": plan was built by octet " + built_by + ", this is octet " OCTET_VERSION "; rebuild the plan");
  const std::string target = header.str();
  check_target(target, origin);
  const auto payload_size = header.pod<uint64_t>();
  const auto padding = header.pod<uint8_t>();
  const size_t payload_at = sizeof kMagic + 4 + 8 + built_by.size() + 8 + target.size() + 8 + 1 + padding;
  if (bytes.size() < payload_at + 8 || payload_size > bytes.size() - payload_at - 8)
    throw Error(origin + ": truncated plan file (expected " + std::to_string(payload_size) + " payload bytes)");
  if (payload_size != bytes.size() - payload_at - 8)
    throw Error(origin + ": corrupt plan file (" + std::to_string(bytes.size() - payload_at - 8 - payload_size) +
                " bytes after the checksum)");
  std::string_view payload = bytes.substr(payload_at, payload_size);
  uint64_t checksum;
  std::memcpy(&checksum, bytes.data() + payload_at + payload_size, 8);
  if (checksum != fnv1a(payload.data(), payload.size()))
    throw Error(origin + ": plan file is corrupt (checksum mismatch)");

  Reader p(payload, origin, std::move(owner));
  EngineInfo info;
  info.device = target.rfind("cuda:", 0) == 0 ? Device::kCuda : Device::kCpu;
  info.precision = p.str();
  info.calibration = p.str();
  info.network_fingerprint = p.str();
  for (auto n = p.count(8); n > 0; --n) {
    const std::string name = p.str();
    info.profile.min[name] = p.shape();
    info.profile.opt[name] = p.shape();
    info.profile.max[name] = p.shape();
  }
  info.sub_batch = p.pod<int64_t>();
  if (info.sub_batch < 0) throw Error(origin + ": plan file is corrupt (sub-batch " + std::to_string(info.sub_batch) + ")");
  std::map<std::string, float> scales;
  for (auto n = p.count(8); n > 0; --n) {
    std::string name = p.str();
    scales[name] = p.pod<float>();
  }
  Graph g;
  g.name = p.str();
  for (auto n = p.count(8); n > 0; --n) {
    std::string domain = p.str();
    g.opsets[domain] = p.pod<int64_t>();
  }
  for (auto* list : {&g.inputs, &g.outputs})
    for (auto n = p.count(8); n > 0; --n) list->push_back(read_value_info(p));
  for (auto n = p.count(8); n > 0; --n) {
    ValueInfo v = read_value_info(p);
    g.value_info[v.name] = v;
  }
  for (auto n = p.count(8); n > 0; --n) {
    std::string name = p.str();
    g.initializers[name] = p.tensor();
  }
  for (auto n = p.count(8); n > 0; --n) {
    Node node;
    node.name = p.str(), node.op_type = p.str(), node.domain = p.str(), node.backend = p.str();
    for (auto* list : {&node.inputs, &node.outputs})
      for (auto k = p.count(8); k > 0; --k) list->push_back(p.str());
    for (auto k = p.count(8); k > 0; --k) {
      std::string key = p.str();
      node.attributes[key] = read_attribute(p, origin);
    }
    g.nodes.push_back(std::move(node));
  }
  if (!p.done()) throw Error(origin + ": corrupt plan (trailing bytes in payload)");
  for (const auto& node : g.nodes) {
    if (!is_plugin_node(node)) continue;
    try {
      plugin_creator(node);
    } catch (const Error& e) {
      throw Error(origin + ": " + e.what());
    }
  }
  return Engine(std::move(g), std::move(scales), std::move(info));
}

}  // namespace

Engine Engine::deserialize(std::string_view bytes, const std::string& origin) { return read_plan(bytes, origin, nullptr); }

ExecutionContext Engine::create_execution_context() const {
  SharedExecutor& shared = *shared_executor_;
  std::call_once(shared.bound, [&] { shared.executor = std::make_shared<const Executor>(make_executor()); });
  return ExecutionContext(shared.executor, info_.sub_batch, info_.device);
}

void Engine::save(const std::string& path) const { write_file_atomically(path, serialize()); }

// The plan is mapped, not read: its weights are used where they lie in the file
// (the page cache), so loading costs the checksum pass and a large plan is shared
// by every process that loads it. Private and writable, so no write can reach the file.
Engine Engine::load(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(path + ": cannot open file (" + std::strerror(errno) + ")");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(path + ": not a regular file");
  }
  const size_t size = static_cast<size_t>(st.st_size);
  if (size == 0) {
    ::close(fd);
    return deserialize({}, path);  // reported as a truncated plan
  }
  void* mapped = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (mapped == MAP_FAILED) throw Error(path + ": cannot map file (" + std::strerror(errno) + ")");
  std::shared_ptr<void> owner(mapped, [size](void* p) { ::munmap(p, size); });
  return read_plan(std::string_view(static_cast<const char*>(mapped), size), path, owner);
}

bool is_plan_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[sizeof kMagic] = {};
  return in.read(magic, sizeof magic) && std::memcmp(magic, kMagic, sizeof kMagic) == 0;
}

}  // namespace octet
