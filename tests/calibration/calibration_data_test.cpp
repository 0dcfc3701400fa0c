#include "octet/calibration_data.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <filesystem>
#include <fstream>

#include "octet/npy.h"
#include "support/temp_dir.h"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#include <stb/stb_image_write.h>

using namespace octet;
using octet::testing::TempDir;

namespace {

void write_png(const std::string& path, int w, int h, int comp, const std::vector<unsigned char>& pixels) {
  ASSERT_TRUE(stbi_write_png(path.c_str(), w, h, comp, pixels.data(), w * comp)) << path;
}

void write_text(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

std::vector<float> read_sample(BatchSource& src, int64_t index) {
  std::vector<float> v(static_cast<size_t>(shape_numel(src.sample_shape())));
  src.read_sample(index, v.data());
  return v;
}

// Runs `f`, expecting an octet::Error whose message contains every one of `parts`.
template <class F>
void expect_error(F f, std::initializer_list<std::string> parts) {
  try {
    f();
    ADD_FAILURE() << "expected an octet::Error";
  } catch (const Error& e) {
    for (const auto& part : parts) EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

ImagePreprocess raw_pixels(int height, int width, int channels) {
  ImagePreprocess pp;
  pp.height = height;
  pp.width = width;
  pp.channels = channels;
  pp.scale = 1.0f;
  return pp;
}

}  // namespace

// ---------------------------------------------------------------- preprocessing spec

TEST(ImagePreprocessSpec, ParsesEveryKey) {
  ImagePreprocess pp = parse_image_preprocess("resize=28x32, channels=3,order=BGR,scale=0.5,mean=0.485:0.456:0.406,std=2");
  EXPECT_EQ(pp.height, 28);
  EXPECT_EQ(pp.width, 32);
  EXPECT_EQ(pp.channels, 3);
  EXPECT_EQ(pp.channel_order, "BGR");
  EXPECT_FLOAT_EQ(pp.scale, 0.5f);
  EXPECT_EQ(pp.mean, (std::vector<float>{0.485f, 0.456f, 0.406f}));
  EXPECT_EQ(pp.std, (std::vector<float>{2.0f}));
}

TEST(ImagePreprocessSpec, EmptySpecKeepsDefaults) {
  ImagePreprocess pp = parse_image_preprocess("");
  EXPECT_EQ(pp.height, 0);
  EXPECT_EQ(pp.channels, 0);
  EXPECT_EQ(pp.channel_order, "RGB");
  EXPECT_FLOAT_EQ(pp.scale, 1.0f / 255.0f);
  EXPECT_EQ(pp.mean, std::vector<float>{0.0f});
  EXPECT_EQ(pp.std, std::vector<float>{1.0f});
}

TEST(ImagePreprocessSpec, BadItemsAreNamed) {
  for (const std::string item : {"colour=1", "resize=28", "resize=0x28", "channels=2", "order=RGBA", "scale=abc",
                                 "mean=0.1:x", "std=0", "scale"})
    expect_error([&] { parse_image_preprocess("channels=1," + item); }, {item});
}

// ---------------------------------------------------------------- .npy

TEST(NpySource, ServesSamplesInOrder) {
  TempDir dir;
  Tensor t(DType::kFloat32, {3, 1, 2, 2});
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>(i);
  write_npy(dir.file("calib.npy"), t);

  auto src = open_calibration_data(dir.file("calib.npy"), {});
  EXPECT_EQ(src->size(), 3);
  EXPECT_EQ(src->sample_shape(), (Shape{1, 2, 2}));
  EXPECT_EQ(read_sample(*src, 2), (std::vector<float>{8, 9, 10, 11}));
  EXPECT_EQ(read_sample(*src, 0), (std::vector<float>{0, 1, 2, 3}));
  EXPECT_NE(src->describe().find("calib.npy"), std::string::npos);
}

TEST(NpySource, RejectsOtherDtypesAndRanks) {
  TempDir dir;
  write_npy(dir.file("ints.npy"), Tensor(DType::kInt32, {2, 1, 2, 2}));
  expect_error([&] { open_npy_source(dir.file("ints.npy")); }, {"ints.npy", "int32", "[2,1,2,2]"});
  write_npy(dir.file("flat.npy"), Tensor(DType::kFloat32, {2, 3}));
  expect_error([&] { open_npy_source(dir.file("flat.npy")); }, {"flat.npy", "[2,3]"});
}

TEST(NpySource, RejectsTruncatedData) {
  TempDir dir;
  write_npy(dir.file("short.npy"), Tensor(DType::kFloat32, {4, 1, 2, 2}));
  std::filesystem::resize_file(dir.file("short.npy"), std::filesystem::file_size(dir.file("short.npy")) - 4);
  expect_error([&] { open_npy_source(dir.file("short.npy")); }, {"short.npy", "truncated"});
}

// A 256 MiB (sparse) file must be served without reading it into memory.
TEST(NpySource, DoesNotLoadTheWholeFile) {
  TempDir dir;
  const std::string path = dir.file("big.npy");
  write_npy(path, Tensor(DType::kFloat32, {1, 1, 1, 1}));
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  const int64_t n = 1024, sample_floats = 64 * 1024;
  const std::string small_shape = "(1, 1, 1, 1)", big_shape = "(1024, 1, 256, 256)";
  bytes.replace(bytes.find(small_shape), small_shape.size(), big_shape);
  bytes.erase(bytes.find("}") + 1, big_shape.size() - small_shape.size());  // keep the header length
  bytes.resize(bytes.size() - 4);
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  std::filesystem::resize_file(path, bytes.size() + n * sample_floats * sizeof(float));

  rusage before{}, after{};
  getrusage(RUSAGE_SELF, &before);
  auto src = open_npy_source(path);
  ASSERT_EQ(src->size(), n);
  std::vector<float> sample(sample_floats);
  for (int64_t i = 0; i < n; i += 97) src->read_sample(i, sample.data());
  getrusage(RUSAGE_SELF, &after);
  EXPECT_LT(after.ru_maxrss - before.ru_maxrss, 32 * 1024) << "peak RSS grew by " << after.ru_maxrss - before.ru_maxrss
                                                            << " KiB";
}

// ---------------------------------------------------------------- images

TEST(ImageSource, BilinearResizeOfGrayImage) {
  TempDir dir;
  const float a = 0, b = 100, c = 200, d = 40;
  write_png(dir.file("g.png"), 2, 2, 1, {0, 100, 200, 40});
  write_text(dir.file("list.txt"), "g.png\n");

  auto src = open_image_source(dir.file("list.txt"), raw_pixels(4, 4, 1));
  ASSERT_EQ(src->sample_shape(), (Shape{1, 4, 4}));
  const std::vector<float> out = read_sample(*src, 0);
  // Half-pixel centres: output 0..3 samples input at 0, 0.25, 0.75, 1 (clamped at the edges).
  const float w[4] = {0, 0.25f, 0.75f, 1};
  auto lerp = [](float p, float q, float t) { return p + (q - p) * t; };
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 4; ++x)
      EXPECT_FLOAT_EQ(out[y * 4 + x], lerp(lerp(a, b, w[x]), lerp(c, d, w[x]), w[y])) << y << "," << x;
  EXPECT_FLOAT_EQ(out[1 * 4 + 1], 58.75f);   // top 25, bottom 160, a quarter down
  EXPECT_FLOAT_EQ(out[2 * 4 + 1], 126.25f);  // three quarters down
}

TEST(ImageSource, ColourToGrayUsesLuminance) {
  TempDir dir;
  write_png(dir.file("rgb.png"), 2, 1, 3, {10, 20, 30, 255, 0, 0});
  write_text(dir.file("list.txt"), dir.file("rgb.png") + "\n");  // an absolute path
  auto src = open_image_source(dir.file("list.txt"), raw_pixels(1, 2, 1));
  const std::vector<float> out = read_sample(*src, 0);
  EXPECT_NEAR(out[0], 0.299f * 10 + 0.587f * 20 + 0.114f * 30, 1e-4);
  EXPECT_NEAR(out[1], 0.299f * 255, 1e-4);
}

TEST(ImageSource, BgrOrderAndPerChannelMeanStd) {
  TempDir dir;
  const unsigned char rgb[3] = {255, 128, 0};
  ASSERT_TRUE(stbi_write_bmp(dir.file("px.bmp").c_str(), 1, 1, 3, rgb));
  write_text(dir.file("list.txt"), "px.bmp\n");
  ImagePreprocess pp = parse_image_preprocess("resize=1x1,channels=3,order=BGR,mean=0.1:0.2:0.3,std=0.5:0.25:2");
  auto src = open_image_source(dir.file("list.txt"), pp);
  const std::vector<float> out = read_sample(*src, 0);
  EXPECT_NEAR(out[0], (0.0f - 0.1f) / 0.5f, 1e-5);              // B
  EXPECT_NEAR(out[1], (128.0f / 255.0f - 0.2f) / 0.25f, 1e-5);  // G
  EXPECT_NEAR(out[2], (1.0f - 0.3f) / 2.0f, 1e-5);              // R
}

TEST(ImageSource, GrayImageFillsThreeChannels) {
  TempDir dir;
  write_png(dir.file("g.png"), 1, 1, 1, {51});
  write_text(dir.file("list.txt"), "g.png\n");
  auto src = open_image_source(dir.file("list.txt"), parse_image_preprocess("channels=3,resize=1x1"));
  for (float v : read_sample(*src, 0)) EXPECT_FLOAT_EQ(v, 0.2f);
}

TEST(ImageSource, ListSkipsBlankLinesAndComments) {
  TempDir dir;
  std::filesystem::create_directories(dir.path() / "sub");
  write_png(dir.file("sub/one.png"), 1, 1, 1, {1});
  write_png(dir.file("two.png"), 1, 1, 1, {2});
  write_text(dir.file("list.txt"), "# calibration set\n\nsub/one.png\n  two.png  \r\n# the end\n");
  auto src = open_calibration_data(dir.file("list.txt"), raw_pixels(1, 1, 1));
  ASSERT_EQ(src->size(), 2);
  EXPECT_EQ(read_sample(*src, 0), std::vector<float>{1});
  EXPECT_EQ(read_sample(*src, 1), std::vector<float>{2});
}

TEST(ImageSource, FolderIsSortedAndSizedByTheFirstImage) {
  TempDir dir;
  write_png(dir.file("b.png"), 3, 2, 1, std::vector<unsigned char>(6, 2));
  write_png(dir.file("a.PNG"), 3, 2, 1, std::vector<unsigned char>(6, 1));
  const unsigned char rgb[3] = {3, 3, 3};
  ASSERT_TRUE(stbi_write_bmp(dir.file("c.bmp").c_str(), 1, 1, 3, rgb));  // resized up to 2x3
  write_text(dir.file("notes.txt"), "not an image");

  ImagePreprocess pp;  // size and channels unset: taken from a.PNG
  pp.scale = 1.0f;
  auto src = open_calibration_data(dir.path().string(), pp);
  ASSERT_EQ(src->size(), 3);
  ASSERT_EQ(src->sample_shape(), (Shape{1, 2, 3}));
  EXPECT_EQ(read_sample(*src, 0), std::vector<float>(6, 1));
  EXPECT_EQ(read_sample(*src, 1), std::vector<float>(6, 2));
  for (float v : read_sample(*src, 2)) EXPECT_NEAR(v, 3.0f, 1e-5);
}

TEST(ImageSource, UndecodableImageIsNamed) {
  TempDir dir;
  write_png(dir.file("good.png"), 1, 1, 1, {1});
  write_text(dir.file("broken.png"), "these are not PNG bytes");
  auto src = open_image_source(dir.path().string(), raw_pixels(1, 1, 1));
  ASSERT_EQ(src->size(), 2);  // decoded lazily: opening succeeds
  expect_error([&] { read_sample(*src, 0); }, {"broken.png", "cannot decode image ("});
  // With the size unset the first image is inspected at once.
  expect_error([&] { open_image_source(dir.path().string(), {}); }, {"broken.png"});
}

TEST(ImageSource, EmptyListOrFolderOrMissingPathIsNamed) {
  TempDir dir;
  write_text(dir.file("empty.txt"), "# nothing here\n\n");
  expect_error([&] { open_calibration_data(dir.file("empty.txt"), {}); }, {"empty.txt", "no images"});
  std::filesystem::create_directories(dir.path() / "empty_dir");
  write_text(dir.file("empty_dir/readme.md"), "x");
  expect_error([&] { open_calibration_data(dir.file("empty_dir"), {}); }, {"empty_dir", "no images"});
  expect_error([&] { open_calibration_data(dir.file("nowhere.npy"), {}); }, {"nowhere.npy", "not found"});
  write_text(dir.file("typo.txt"), "missing.png\n");
  expect_error([&] { open_calibration_data(dir.file("typo.txt"), {}); }, {"typo.txt:1", "missing.png"});
}

TEST(ImageSource, MeanCountMustMatchChannels) {
  TempDir dir;
  write_png(dir.file("g.png"), 1, 1, 1, {1});
  expect_error([&] { open_image_source(dir.path().string(), parse_image_preprocess("channels=1,mean=0.1:0.2:0.3")); },
               {"3 mean/std values for 1 channels"});
}
