#include "octet/calibration_cache.h"

#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <unordered_map>

#include "octet/error.h"

namespace octet {
namespace {

struct AlgoName {
  CalibrationAlgoType algo;
  std::string_view name;
};
constexpr AlgoName kAlgoNames[] = {
    {CalibrationAlgoType::kLEGACY_CALIBRATION, "LegacyCalibration"},
    {CalibrationAlgoType::kENTROPY_CALIBRATION, "EntropyCalibration"},
    {CalibrationAlgoType::kENTROPY_CALIBRATION_2, "EntropyCalibration2"},
    {CalibrationAlgoType::kMINMAX_CALIBRATION, "MinMaxCalibration"},
    {CalibrationAlgoType::kPERCENTILE_CALIBRATION, "PercentileCalibration"},
    {CalibrationAlgoType::kMSE_CALIBRATION, "MSECalibration"},
};

constexpr std::string_view kFingerprintFormat = "octet-calibration-fingerprint";
constexpr int kFingerprintVersion = 1;
constexpr size_t kHexDigits = 8;  // a float32's bits

[[noreturn]] void fail_at(const std::string& origin, size_t line, const std::string& message) {
  throw Error(origin + ":" + std::to_string(line) + ": " + message);
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_char(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool all_of(std::string_view s, bool (*pred)(char)) {
  for (char c : s)
    if (!pred(c)) return false;
  return true;
}

// "TRT-<digits>-<Name>": the algorithm name is kept as text, since newer TensorRT
// versions add names octet need not know to read the scales.
bool valid_header_parts(std::string_view version, std::string_view algorithm) {
  return !version.empty() && all_of(version, is_digit) && !algorithm.empty() && all_of(algorithm, is_name_char);
}

int hex_value(char c) {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

struct Line {
  std::string_view text;  // without its line end
  size_t number;          // 1-based
  bool terminated;        // ended by '\n' (the last line of a cut-off file is not)
};

std::vector<Line> split_lines(std::string_view text) {
  std::vector<Line> lines;
  size_t start = 0;
  for (size_t number = 1; start < text.size(); ++number) {
    const size_t end = text.find('\n', start);
    const bool terminated = end != std::string_view::npos;
    std::string_view line = text.substr(start, terminated ? end - start : std::string_view::npos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back({line, number, terminated});
    start = terminated ? end + 1 : text.size();
  }
  return lines;
}

// Scales are written unpadded by some of NVIDIA's tools (Python's hex(), e.g. "0"
// for an all-zero tensor), so 1 to 8 digits are accepted, except on a last line
// without its newline, where a short scale means the file was cut off.
float parse_scale(std::string_view hex, const Line& line, const std::string& origin) {
  uint32_t bits = 0;
  for (char c : hex) {
    const int digit = hex_value(c);
    if (digit < 0) fail_at(origin, line.number, "scale '" + std::string(hex) + "' is not hexadecimal");
    bits = bits << 4 | static_cast<uint32_t>(digit);
  }
  if (hex.size() > kHexDigits)
    fail_at(origin, line.number, "scale '" + std::string(hex) + "' has more than 8 hex digits");
  if (!line.terminated && hex.size() < kHexDigits)
    fail_at(origin, line.number, "file is truncated (last line ends mid-scale: '" + std::string(hex) + "')");
  if (hex.empty()) fail_at(origin, line.number, "missing scale after ':'");
  const float scale = std::bit_cast<float>(bits);
  if (std::isnan(scale)) fail_at(origin, line.number, "scale " + std::string(hex) + " is NaN");
  if (std::signbit(scale)) fail_at(origin, line.number, "scale " + std::string(hex) + " is negative");
  if (std::isinf(scale)) fail_at(origin, line.number, "scale " + std::string(hex) + " is infinite");
  return scale;
}

// ---- The sidecar's JSON: a flat object of string and integer members. ----

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(c));
          out += escaped;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

void append_utf8(std::string& out, uint32_t code_point) {
  if (code_point < 0x80) {
    out += static_cast<char>(code_point);
  } else if (code_point < 0x800) {
    out += static_cast<char>(0xC0 | code_point >> 6);
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else if (code_point < 0x10000) {
    out += static_cast<char>(0xE0 | code_point >> 12);
    out += static_cast<char>(0x80 | (code_point >> 6 & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | code_point >> 18);
    out += static_cast<char>(0x80 | (code_point >> 12 & 0x3F));
    out += static_cast<char>(0x80 | (code_point >> 6 & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  }
}

struct JsonValue {
  bool is_string = false;
  std::string text;  // the string, or the integer's digits
};

class FlatJsonParser {
 public:
  FlatJsonParser(std::string_view json, const std::string& origin) : json_(json), origin_(origin) {}

  std::unordered_map<std::string, JsonValue> parse_object() {
    std::unordered_map<std::string, JsonValue> members;
    expect('{');
    if (!consume('}')) {
      do {
        skip_space();
        const size_t key_pos = pos_;
        std::string key = parse_string();
        expect(':');
        if (!members.emplace(std::move(key), parse_value()).second) fail(key_pos, "duplicate key");
      } while (consume(','));
      expect('}');
    }
    skip_space();
    if (pos_ != json_.size()) fail(pos_, "unexpected text after the JSON object");
    return members;
  }

  [[noreturn]] void fail(size_t pos, const std::string& message) const {
    const size_t line = 1 + std::count(json_.begin(), json_.begin() + std::min(pos, json_.size()), '\n');
    fail_at(origin_, line, "invalid calibration fingerprint: " + message);
  }

 private:
  void skip_space() {
    while (pos_ < json_.size() && (json_[pos_] == ' ' || json_[pos_] == '\t' || json_[pos_] == '\r' || json_[pos_] == '\n'))
      ++pos_;
  }
  bool consume(char c) {
    skip_space();
    if (pos_ < json_.size() && json_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!consume(c)) fail(pos_, std::string("expected '") + c + "'");
  }

  JsonValue parse_value() {
    skip_space();
    if (pos_ < json_.size() && json_[pos_] == '"') return {true, parse_string()};
    const size_t start = pos_;
    while (pos_ < json_.size() && is_digit(json_[pos_])) ++pos_;
    if (pos_ == start) fail(start, "expected a string or an integer");
    return {false, std::string(json_.substr(start, pos_ - start))};
  }

  std::string parse_string() {
    skip_space();
    if (pos_ >= json_.size() || json_[pos_] != '"') fail(pos_, "expected a string");
    ++pos_;
    std::string out;
    while (true) {
      if (pos_ >= json_.size()) fail(pos_, "unterminated string");
      const char c = json_[pos_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) fail(pos_ - 1, "control character in string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= json_.size()) fail(pos_, "unterminated string");
      switch (const char e = json_[pos_++]) {
        case '"': case '\\': case '/': out += e; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': append_utf8(out, parse_escaped_code_point()); break;
        default: fail(pos_ - 1, std::string("bad escape '\\") + e + "'");
      }
    }
  }

  uint32_t parse_hex4() {
    if (pos_ + 4 > json_.size()) fail(pos_, "truncated \\u escape");
    uint32_t value = 0;
    for (int i = 0; i < 4; ++i) {
      const int digit = hex_value(json_[pos_]);
      if (digit < 0) fail(pos_, "bad \\u escape");
      value = value << 4 | static_cast<uint32_t>(digit);
      ++pos_;
    }
    return value;
  }

  // After "\u": one code point, joining a UTF-16 surrogate pair.
  uint32_t parse_escaped_code_point() {
    const size_t start = pos_;
    const uint32_t high = parse_hex4();
    if (high >= 0xDC00 && high <= 0xDFFF) fail(start, "lone low surrogate");
    if (high < 0xD800 || high > 0xDBFF) return high;
    if (json_.substr(pos_, 2) != "\\u") fail(pos_, "high surrogate without its low half");
    pos_ += 2;
    const uint32_t low = parse_hex4();
    if (low < 0xDC00 || low > 0xDFFF) fail(start, "high surrogate without its low half");
    return 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
  }

  std::string_view json_;
  const std::string& origin_;
  size_t pos_ = 0;
};

[[noreturn]] void throw_write_error(const std::string& path, const std::string& what, int error) {
  throw Error(path + ": cannot write file (" + what + ": " + std::strerror(error) + ")");
}

}  // namespace

std::string_view calibration_algo_name(CalibrationAlgoType algo) {
  for (const auto& entry : kAlgoNames)
    if (entry.algo == algo) return entry.name;
  throw Error("unknown calibration algorithm " + std::to_string(static_cast<int>(algo)));
}

CalibrationAlgoType calibration_algo_from_name(std::string_view name) {
  std::string known;
  for (const auto& entry : kAlgoNames) {
    if (entry.name == name) return entry.algo;
    known += (known.empty() ? "" : ", ") + std::string(entry.name);
  }
  throw Error("unknown calibration algorithm '" + std::string(name) + "' (known: " + known + ")");
}

const float* CalibrationCache::find(const std::string& tensor) const {
  for (const auto& [name, scale] : scales)
    if (name == tensor) return &scale;
  return nullptr;
}

std::string serialize_calibration_cache(const CalibrationCache& cache) {
  if (!valid_header_parts(cache.trt_version, cache.algorithm))
    throw Error("cannot write calibration cache header 'TRT-" + cache.trt_version + "-" + cache.algorithm +
                "' (expected TRT-<digits>-<Name>)");
  std::string out = "TRT-" + cache.trt_version + "-" + cache.algorithm + "\n";
  for (const auto& [name, scale] : cache.scales) {
    if (name.empty() || name.find_first_of("\r\n") != std::string::npos)
      throw Error("cannot write tensor name '" + name + "' to a calibration cache (empty or multi-line)");
    char hex[kHexDigits + 1];
    std::snprintf(hex, sizeof hex, "%08x", std::bit_cast<uint32_t>(scale));
    out += name + ": " + hex + "\n";
  }
  return out;
}

CalibrationCache parse_calibration_cache(std::string_view text, const std::string& origin) {
  std::vector<Line> lines = split_lines(text);
  std::erase_if(lines, [](const Line& line) { return trim(line.text).empty(); });
  if (lines.empty()) throw Error(origin + ": calibration cache is empty");

  CalibrationCache cache;
  const Line& header = lines.front();
  const std::string_view header_text = trim(header.text);
  const bool has_prefix = header_text.starts_with("TRT-");
  const std::string_view version_and_algorithm = has_prefix ? header_text.substr(4) : std::string_view();
  const size_t dash = version_and_algorithm.find('-');
  const std::string_view version = version_and_algorithm.substr(0, dash);
  const std::string_view algorithm =
      dash == std::string_view::npos ? std::string_view() : version_and_algorithm.substr(dash + 1);
  if (!has_prefix || !valid_header_parts(version, algorithm))
    fail_at(origin, header.number,
            "not a TensorRT calibration cache: header '" + std::string(header_text) + "' is not TRT-<digits>-<Name>");
  cache.trt_version = std::string(version);
  cache.algorithm = std::string(algorithm);

  std::unordered_map<std::string_view, size_t> line_of_tensor;
  for (size_t i = 1; i < lines.size(); ++i) {
    const Line& line = lines[i];
    // Tensor names may hold ':' themselves ("input:0"), so the last separator counts.
    size_t colon = line.text.rfind(": ");
    if (colon == std::string_view::npos) colon = line.text.rfind(':');
    if (colon == std::string_view::npos)
      fail_at(origin, line.number,
              line.terminated ? "expected '<tensor>: <hex scale>', found no ':'" : "file is truncated (last line has no ':')");
    const std::string_view name = line.text.substr(0, colon);
    if (trim(name).empty()) fail_at(origin, line.number, "empty tensor name");
    const float scale = parse_scale(trim(line.text.substr(colon + 1)), line, origin);
    const auto [previous, inserted] = line_of_tensor.emplace(name, line.number);
    if (!inserted)
      fail_at(origin, line.number,
              "duplicate tensor '" + std::string(name) + "' (first on line " + std::to_string(previous->second) + ")");
    cache.scales.emplace_back(std::string(name), scale);
  }
  return cache;
}

std::string serialize_fingerprint(const CacheFingerprint& fp) {
  std::string out = "{\n  \"format\": ";
  append_json_string(out, kFingerprintFormat);
  out += ",\n  \"version\": " + std::to_string(kFingerprintVersion) + ",\n  \"network\": ";
  append_json_string(out, fp.network);
  out += ",\n  \"settings\": ";
  append_json_string(out, fp.settings);
  out += "\n}\n";
  return out;
}

CacheFingerprint parse_fingerprint(std::string_view json, const std::string& origin) {
  FlatJsonParser parser(json, origin);
  const auto members = parser.parse_object();
  // Members are checked after parsing, so their errors point at the object's start.
  const auto member = [&](const std::string& key, bool want_string) -> const std::string& {
    const auto it = members.find(key);
    if (it == members.end()) parser.fail(0, "missing \"" + key + "\"");
    if (it->second.is_string != want_string)
      parser.fail(0, "\"" + key + "\" must be " + (want_string ? "a string" : "an integer"));
    return it->second.text;
  };
  if (member("format", true) != kFingerprintFormat)
    parser.fail(0, "\"format\" is not \"" + std::string(kFingerprintFormat) + "\"");
  if (member("version", false) != std::to_string(kFingerprintVersion))
    parser.fail(0, "unsupported version " + member("version", false));
  return {member("network", true), member("settings", true)};
}

std::string fingerprint_sidecar_path(const std::string& cache_path) { return cache_path + ".octet.json"; }

void write_file_atomically(const std::string& path, std::string_view content) {
  // Same folder as the target, so the rename never crosses file systems.
  const std::string temp_path = path + ".tmp." + std::to_string(::getpid());
  std::FILE* file = std::fopen(temp_path.c_str(), "wb");
  if (!file) throw_write_error(path, "cannot create " + temp_path, errno);
  const auto discard_and_throw = [&](const std::string& what, int error) {
    std::error_code ignored;
    std::filesystem::remove(temp_path, ignored);
    throw_write_error(path, what, error);
  };

  // fsync before the rename, so a crash cannot leave a renamed but empty file.
  const bool written = std::fwrite(content.data(), 1, content.size(), file) == content.size() &&
                       std::fflush(file) == 0 && ::fsync(::fileno(file)) == 0;
  const int write_error = errno;
  if (std::fclose(file) != 0 || !written) discard_and_throw("cannot write " + temp_path, written ? errno : write_error);

  std::error_code rename_error;
  std::filesystem::rename(temp_path, path, rename_error);
  if (rename_error) discard_and_throw("cannot rename " + temp_path, rename_error.value());
}

}  // namespace octet
