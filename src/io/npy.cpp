#include "octet/npy.h"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>

namespace octet {
namespace {

struct NpyType {
  const char* descr;
  DType dtype;
};
// '|' marks single-byte types; multi-byte ones must be little-endian ('<').
constexpr NpyType kNpyTypes[] = {
    {"<f4", DType::kFloat32}, {"<f2", DType::kFloat16}, {"<f8", DType::kFloat64},
    {"|i1", DType::kInt8},    {"|u1", DType::kUInt8},   {"<i2", DType::kInt16},
    {"<u2", DType::kUInt16},  {"<i4", DType::kInt32},   {"<u4", DType::kUInt32},
    {"<i8", DType::kInt64},   {"<u8", DType::kUInt64},  {"|b1", DType::kBool},
};

DType dtype_from_descr(const std::string& descr, const std::string& path) {
  std::string d = descr;
  if (d.size() == 3 && d[0] == '=') d[0] = '<';  // native order on a little-endian host
  if (d.size() == 3 && (d[0] == '<' || d[0] == '>') && d[2] == '1') d[0] = '|';
  for (const auto& t : kNpyTypes)
    if (d == t.descr) return t.dtype;
  throw Error(path + ": unsupported .npy element type '" + descr + "'");
}

const char* descr_of(DType dtype) {
  for (const auto& t : kNpyTypes)
    if (t.dtype == dtype) return t.descr;
  throw Error("cannot write " + std::string(dtype_name(dtype)) + " tensors as .npy");
}

}  // namespace

namespace {

NpyHeader parse_header(std::ifstream& in, const std::string& path) {
  char magic[8];
  if (!in.read(magic, 8) || std::memcmp(magic, "\x93NUMPY", 6) != 0)
    throw Error(path + ": not a .npy file (bad magic)");
  const int major = magic[6];
  if (major < 1 || major > 3) throw Error(path + ": unsupported .npy version " + std::to_string(major));
  const int len_size = major == 1 ? 2 : 4;
  unsigned char len_bytes[4] = {0, 0, 0, 0};
  if (!in.read(reinterpret_cast<char*>(len_bytes), len_size)) throw Error(path + ": truncated .npy header");
  uint32_t header_len = 0;
  for (int i = len_size - 1; i >= 0; --i) header_len = header_len << 8 | len_bytes[i];
  if (header_len > (1u << 20)) throw Error(path + ": .npy header is implausibly long");
  std::string header(header_len, '\0');
  if (!in.read(header.data(), header_len)) throw Error(path + ": truncated .npy header");

  NpyHeader h;
  h.data_offset = 8 + len_size + header_len;
  std::smatch m;
  if (!std::regex_search(header, m, std::regex(R"('descr'\s*:\s*'([^']*)')")))
    throw Error(path + ": .npy header has no 'descr'");
  h.dtype = dtype_from_descr(m[1], path);
  if (std::regex_search(header, m, std::regex(R"('fortran_order'\s*:\s*(True|False))")) && m[1] == "True")
    throw Error(path + ": Fortran-ordered .npy arrays are not supported; save with np.ascontiguousarray");
  if (!std::regex_search(header, m, std::regex(R"('shape'\s*:\s*\(([^)]*)\))")))
    throw Error(path + ": .npy header has no 'shape'");
  const std::string dims = m[1];
  const std::regex num(R"(\d+)");
  for (auto it = std::sregex_iterator(dims.begin(), dims.end(), num); it != std::sregex_iterator(); ++it)
    h.shape.push_back(std::stoll(it->str()));

  // Check the size against the file before anyone allocates, so a corrupt header cannot ask for terabytes.
  in.seekg(0, std::ios::end);
  const auto available = static_cast<uint64_t>(in.tellg()) - h.data_offset;
  const uint64_t needed = static_cast<uint64_t>(shape_numel(h.shape)) * dtype_size(h.dtype);
  if (available < needed)
    throw Error(path + ": truncated .npy data (expected " + std::to_string(needed) + " bytes for " +
                std::string(dtype_name(h.dtype)) + " " + shape_str(h.shape) + ", file has " + std::to_string(available) + ")");
  in.seekg(h.data_offset);
  return h;
}

std::ifstream open_for_reading(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open file");
  return in;
}

}  // namespace

NpyHeader read_npy_header(const std::string& path) {
  std::ifstream in = open_for_reading(path);
  return parse_header(in, path);
}

Tensor read_npy(const std::string& path) {
  std::ifstream in = open_for_reading(path);
  const NpyHeader h = parse_header(in, path);
  Tensor t(h.dtype, h.shape);
  if (!in.read(static_cast<char*>(t.raw()), static_cast<std::streamsize>(t.nbytes())))
    throw Error(path + ": truncated .npy data");
  return t;
}

void write_npy(const std::string& path, const Tensor& t) {
  std::string header = "{'descr': '" + std::string(descr_of(t.dtype())) + "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < t.shape().size(); ++i) header += std::to_string(t.shape()[i]) + ", ";
  if (t.shape().size() > 1) header.resize(header.size() - 2);
  else if (t.shape().size() == 1) header.resize(header.size() - 1);
  header += "), }";
  // Pad with spaces so the data starts on a 64-byte boundary, newline-terminated.
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';

  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error(path + ": cannot write file");
    out.write("\x93NUMPY\x01\x00", 8);
    uint16_t len = static_cast<uint16_t>(header.size());
    char len_bytes[2] = {static_cast<char>(len & 0xff), static_cast<char>(len >> 8)};
    out.write(len_bytes, 2);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    out.write(static_cast<const char*>(t.raw()), static_cast<std::streamsize>(t.nbytes()));
    if (!out) throw Error(path + ": write failed");
  }
  std::filesystem::rename(tmp, path);
}

}  // namespace octet
