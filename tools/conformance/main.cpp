// Runs ONNX's own backend test cases (Debian's libonnx-testdata) through octet's
// reference backend and reports pass / fail / skipped-unsupported per op and in
// total. Each case runs in a forked child so that a crash is reported, not fatal.
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <set>

#include <onnx/onnx_pb.h>

#include "octet/executor.h"
#include "octet/onnx_importer.h"

namespace fs = std::filesystem;
using namespace octet;

namespace {

// The ops [foundation] promises; a case counts towards the pass rate when all its ops are here.
const std::set<std::string> kPromisedOps = {
    "Conv", "ConvTranspose", "Gemm", "MatMul", "BatchNormalization", "Relu", "LeakyRelu", "PRelu",
    "Clip", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Add", "Sub", "Mul", "Div", "Pow",
    "Concat", "Split", "Slice", "Gather", "MaxPool", "AveragePool", "GlobalAveragePool",
    "GlobalMaxPool", "Flatten", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Softmax", "Resize",
    "Pad", "ReduceMean", "Identity", "Constant", "Shape", "Cast", "QuantizeLinear",
    "DequantizeLinear"};

enum class Outcome { kPass, kFail, kUnsupported, kCrash, kNoData, kBadData };
const char* outcome_name(Outcome o) {
  switch (o) {
    case Outcome::kPass: return "pass";
    case Outcome::kFail: return "FAIL";
    case Outcome::kUnsupported: return "skipped-unsupported";
    case Outcome::kCrash: return "CRASH";
    case Outcome::kNoData: return "no-data";
    case Outcome::kBadData: return "skipped-inconsistent-test-data";
  }
  return "?";
}

struct CaseResult {
  std::string suite, name;
  std::set<std::string> ops;
  bool promised = false;  // all its ops are in kPromisedOps
  Outcome outcome = Outcome::kNoData;
  std::string detail;
};

// Compares like ONNX's backend runner: np.testing.assert_allclose(rtol=1e-3, atol=1e-7),
// exact for integers, NaN equal to NaN.
std::string compare(const Tensor& got, const Tensor& want, const std::string& name) {
  // ONNX 1.12's test data stores bfloat16 as uint16 bits (numpy has no bfloat16) and
  // truncates when casting to it; octet rounds to nearest even like onnxruntime and
  // later ONNX releases, so bfloat16 is compared as values, within one bfloat16 step.
  if (got.dtype() == DType::kBFloat16 && want.dtype() == DType::kUInt16 && got.shape() == want.shape()) {
    for (int64_t i = 0; i < got.numel(); ++i) {
      double g = got.get_as_double(i), w = bfloat16_to_float(want.data<uint16_t>()[i]);
      if (!(std::isnan(g) && std::isnan(w)) && g != w && !(std::abs(g - w) <= std::ldexp(std::abs(w), -7)))
        return name + "[" + std::to_string(i) + "] = " + std::to_string(g) + ", expected " + std::to_string(w);
    }
    return "";
  }
  if (got.dtype() != want.dtype())
    return name + ": dtype " + std::string(dtype_name(got.dtype())) + " != expected " +
           std::string(dtype_name(want.dtype()));
  if (got.shape() != want.shape())
    return name + ": shape " + shape_str(got.shape()) + " != expected " + shape_str(want.shape());
  for (int64_t i = 0; i < got.numel(); ++i) {
    double g = got.get_as_double(i), w = want.get_as_double(i);
    if (std::isnan(w) && std::isnan(g)) continue;
    if (std::isinf(w) && g == w) continue;
    if (!(std::abs(g - w) <= 1e-7 + 1e-3 * std::abs(w)))
      return name + "[" + std::to_string(i) + "] = " + std::to_string(g) + ", expected " + std::to_string(w);
  }
  return "";
}

std::pair<Outcome, std::string> run_case(const fs::path& dir) {
  try {
    Graph graph = import_onnx_file((dir / "model.onnx").string());
    Executor exec(graph);
    std::vector<fs::path> sets;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_directory() && e.path().filename().string().rfind("test_data_set_", 0) == 0)
        sets.push_back(e.path());
    std::sort(sets.begin(), sets.end());
    if (sets.empty()) return {Outcome::kNoData, "no test_data_set"};
    for (const auto& set : sets) {
      TensorMap inputs;
      for (size_t i = 0; fs::exists(set / ("input_" + std::to_string(i) + ".pb")); ++i) {
        if (i >= graph.inputs.size()) return {Outcome::kFail, "more input files than graph inputs"};
        Tensor t = read_onnx_tensor_file((set / ("input_" + std::to_string(i) + ".pb")).string());
        if (graph.inputs[i].dtype == DType::kBFloat16 && t.dtype() == DType::kUInt16)  // bits stored as uint16
          t = Tensor::view(DType::kBFloat16, t.shape(), t.raw(), std::make_shared<Tensor>(t));
        // A few ONNX 1.12 cases ship inputs that contradict their model's declared shape
        // (castlike_*_BFLOAT16_expanded: 'like' declared [3,4], stored [1]); octet, like
        // onnxruntime, refuses such inputs, so the case cannot be judged.
        const ValueInfo& declared = graph.inputs[i];
        bool fits = !declared.has_shape || declared.dims.size() == static_cast<size_t>(t.rank());
        for (size_t d = 0; fits && declared.has_shape && d < declared.dims.size(); ++d)
          fits = !declared.dims[d].known() || declared.dims[d].value == t.shape()[d];
        if (!fits) return {Outcome::kBadData, "input " + declared.name + " " + shape_str(t.shape()) +
                                                  " contradicts the model's declared shape " + declared.shape_str()};
        inputs[graph.inputs[i].name] = t;
      }
      TensorMap outputs = exec.run(inputs);
      for (size_t i = 0; fs::exists(set / ("output_" + std::to_string(i) + ".pb")); ++i) {
        const auto& name = graph.outputs.at(i).name;
        Tensor want = read_onnx_tensor_file((set / ("output_" + std::to_string(i) + ".pb")).string());
        std::string diff = compare(outputs.at(name), want, name);
        if (!diff.empty()) return {Outcome::kFail, set.filename().string() + ": " + diff};
      }
    }
    return {Outcome::kPass, ""};
  } catch (const UnsupportedError& e) {
    return {Outcome::kUnsupported, e.what()};
  } catch (const std::exception& e) {
    return {Outcome::kFail, e.what()};
  }
}

// Op types of a case, read straight from the protobuf so that a model octet
// cannot import still counts under its ops.
std::set<std::string> case_ops(const fs::path& dir) {
  std::set<std::string> ops;
  onnx::ModelProto model;
  std::ifstream in(dir / "model.onnx", std::ios::binary);
  if (!model.ParseFromIstream(&in)) return {"(unreadable)"};
  for (const auto& node : model.graph().node()) ops.insert(node.op_type());
  return ops;
}

// Runs one case in a child process with a time limit; a signal or timeout is a crash.
CaseResult run_isolated(const std::string& suite, const fs::path& dir, int timeout_s) {
  CaseResult r{suite, dir.filename().string(), case_ops(dir)};
  r.promised = std::all_of(r.ops.begin(), r.ops.end(), [](auto& op) { return kPromisedOps.count(op) != 0; });
  int fds[2];
  if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    alarm(timeout_s);
    auto [outcome, detail] = run_case(dir);
    std::string msg = std::to_string(static_cast<int>(outcome)) + "\n" + detail;
    ssize_t ignored = write(fds[1], msg.data(), msg.size());
    (void)ignored;
    _exit(0);
  }
  close(fds[1]);
  std::string msg;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) msg.append(buf, n);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFSIGNALED(status) || msg.empty()) {
    r.outcome = Outcome::kCrash;
    r.detail = WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status)) : "no result";
  } else {
    auto nl = msg.find('\n');
    r.outcome = static_cast<Outcome>(std::stoi(msg.substr(0, nl)));
    r.detail = msg.substr(nl + 1);
  }
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"octet conformance runner over ONNX's backend test data"};
  std::string data_dir = "/usr/share/libonnx-testdata/data";
  std::string filter = ".*", json_path;
  std::vector<std::string> suites = {"node", "simple", "pytorch-converted", "pytorch-operator"};
  bool verbose = false, check = false;
  double min_pass_rate = 95.0;
  int timeout_s = 60;
  app.add_option("--data-dir", data_dir, "libonnx-testdata's data folder");
  app.add_option("--suite", suites, "suites to run")->capture_default_str();
  app.add_option("--filter", filter, "regex over case names (e.g. 'conv|pool')");
  app.add_option("--json", json_path, "write every case's result to this JSON file");
  app.add_option("--timeout", timeout_s, "seconds per case before it counts as a crash");
  app.add_flag("-v,--verbose", verbose, "print each failing case's reason");
  app.add_flag("--check", check,
               "exit 1 on any crash or failing case, or when the promised ops' pass rate is below --min-pass-rate");
  app.add_option("--min-pass-rate", min_pass_rate, "percent, for --check")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  std::regex re(filter, std::regex::icase);
  std::vector<CaseResult> results;
  for (const auto& suite : suites) {
    fs::path root = fs::path(data_dir) / suite;
    if (!fs::is_directory(root)) {
      std::cerr << "conformance: " << root << " not found (install Debian's libonnx-testdata)\n";
      return 2;
    }
    std::vector<fs::path> cases;
    for (const auto& e : fs::directory_iterator(root))
      if (e.is_directory() && fs::exists(e.path() / "model.onnx") &&
          std::regex_search(e.path().filename().string(), re))
        cases.push_back(e.path());
    std::sort(cases.begin(), cases.end());
    for (const auto& c : cases) results.push_back(run_isolated(suite, c, timeout_s));
  }

  // Per-op table: a case counts under every op it contains.
  std::map<std::string, std::map<Outcome, int>> per_op;
  std::map<Outcome, int> total, promised;
  int promised_cases = 0;
  for (const auto& r : results) {
    for (const auto& op : r.ops) per_op[op][r.outcome]++;
    total[r.outcome]++;
    if (r.promised) {
      promised[r.outcome]++;
      ++promised_cases;
    }
    if (verbose && r.outcome != Outcome::kPass)
      std::cout << outcome_name(r.outcome) << "  " << r.suite << "/" << r.name << ": " << r.detail << "\n";
  }
  std::printf("\n%-22s %6s %6s %6s %6s %8s\n", "op", "cases", "pass", "fail", "crash", "skipped");
  for (const auto& [op, counts] : per_op) {
    if (!kPromisedOps.count(op)) continue;
    int cases = 0;
    for (auto& [o, c] : counts) cases += c;
    std::printf("%-22s %6d %6d %6d %6d %8d\n", op.c_str(), cases, counts.count(Outcome::kPass) ? counts.at(Outcome::kPass) : 0,
                counts.count(Outcome::kFail) ? counts.at(Outcome::kFail) : 0,
                counts.count(Outcome::kCrash) ? counts.at(Outcome::kCrash) : 0,
                counts.count(Outcome::kUnsupported) ? counts.at(Outcome::kUnsupported) : 0);
  }
  auto get = [](std::map<Outcome, int>& m, Outcome o) { return m.count(o) ? m[o] : 0; };
  std::printf("\nall cases: %zu  pass %d  fail %d  crash %d  skipped-unsupported %d\n", results.size(),
              get(total, Outcome::kPass), get(total, Outcome::kFail), get(total, Outcome::kCrash),
              get(total, Outcome::kUnsupported));
  double rate = promised_cases ? 100.0 * get(promised, Outcome::kPass) / promised_cases : 0.0;
  std::printf("cases whose ops are all promised: %d  pass %d  fail %d  crash %d  skipped-unsupported %d  "
              "inconsistent-test-data %d  pass rate %.1f%%\n",
              promised_cases, get(promised, Outcome::kPass), get(promised, Outcome::kFail),
              get(promised, Outcome::kCrash), get(promised, Outcome::kUnsupported), get(promised, Outcome::kBadData), rate);

  if (!json_path.empty()) {
    std::ofstream js(json_path);
    js << "{\"promised_cases\": " << promised_cases << ", \"promised_pass\": " << get(promised, Outcome::kPass)
       << ", \"crashes\": " << get(total, Outcome::kCrash) << ", \"cases\": [\n";
    for (size_t i = 0; i < results.size(); ++i) {
      const auto& r = results[i];
      std::string detail;
      for (char ch : r.detail) {
        if (ch == '"' || ch == '\\') detail += '\\';
        if (static_cast<unsigned char>(ch) >= 0x20) detail += ch;
      }
      js << "  {\"suite\": \"" << r.suite << "\", \"name\": \"" << r.name << "\", \"outcome\": \""
         << outcome_name(r.outcome) << "\", \"promised\": " << (r.promised ? "true" : "false")
         << ", \"detail\": \"" << detail << "\"}" << (i + 1 < results.size() ? "," : "") << "\n";
    }
    js << "]}\n";
  }
  if (check) {
    const int bad = get(total, Outcome::kFail) + get(total, Outcome::kCrash);
    if (bad > 0 || rate < min_pass_rate) {
      std::printf("conformance check FAILED: %d failing or crashing cases, pass rate %.1f%% (need %.1f%%)\n", bad,
                  rate, min_pass_rate);
      return 1;
    }
    std::printf("conformance check passed\n");
  }
  return 0;
}
