#include "octet/npy.h"

#include <gtest/gtest.h>

#include <fstream>

#include "support/temp_dir.h"

using namespace octet;
using octet::testing::TempDir;

TEST(Npy, RoundTripsEveryCliDtype) {
  TempDir dir;
  for (DType dt : {DType::kFloat32, DType::kFloat16, DType::kInt8, DType::kUInt8, DType::kInt32, DType::kInt64}) {
    Tensor t(dt, {2, 3});
    for (int64_t i = 0; i < t.numel(); ++i) t.set_from_double(i, static_cast<double>(i) - 2);
    write_npy(dir.file("a.npy"), t);
    Tensor back = read_npy(dir.file("a.npy"));
    ASSERT_EQ(back.dtype(), dt);
    ASSERT_EQ(back.shape(), (Shape{2, 3}));
    for (int64_t i = 0; i < t.numel(); ++i) EXPECT_EQ(back.get_as_double(i), t.get_as_double(i));
  }
}

TEST(Npy, ScalarAndVectorShapes) {
  TempDir dir;
  write_npy(dir.file("s.npy"), Tensor(DType::kFloat32, {}));
  EXPECT_EQ(read_npy(dir.file("s.npy")).shape(), Shape{});
  write_npy(dir.file("v.npy"), Tensor(DType::kFloat32, {5}));
  EXPECT_EQ(read_npy(dir.file("v.npy")).shape(), Shape{5});
}

TEST(Npy, MissingFileNamesThePath) {
  try {
    read_npy("/nonexistent/x.npy");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/x.npy"), std::string::npos);
  }
}

TEST(Npy, GarbageAndTruncatedFilesAreRejected) {
  TempDir dir;
  std::ofstream(dir.file("g.npy")) << "this is not numpy";
  EXPECT_THROW(read_npy(dir.file("g.npy")), Error);

  write_npy(dir.file("t.npy"), Tensor(DType::kFloat32, {100}));
  std::filesystem::resize_file(dir.file("t.npy"), std::filesystem::file_size(dir.file("t.npy")) - 8);
  try {
    read_npy(dir.file("t.npy"));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
  }
}

TEST(Npy, UnsupportedDtypeIsNamed) {
  TempDir dir;
  std::string header = "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }";
  header.append((64 - (10 + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  std::ofstream out(dir.file("c.npy"), std::ios::binary);
  out.write("\x93NUMPY\x01\x00", 8);
  char len[2] = {static_cast<char>(header.size()), 0};
  out.write(len, 2);
  out << header << std::string(8, '\0');
  out.close();
  try {
    read_npy(dir.file("c.npy"));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("<c8"), std::string::npos) << e.what();
  }
}
