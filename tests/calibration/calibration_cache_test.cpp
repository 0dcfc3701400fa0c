#include "octet/calibration_cache.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "octet/error.h"
#include "support/temp_dir.h"

using namespace octet;
using octet::testing::TempDir;

namespace {

uint32_t bits_of(float f) { return std::bit_cast<uint32_t>(f); }

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_text(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

// The error for `text` must name the origin and the line ("cache.txt:3:") and contain `detail`.
void expect_cache_error(const std::string& text, int line, const std::string& detail) {
  SCOPED_TRACE(text);
  try {
    parse_calibration_cache(text, "cache.txt");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("cache.txt:" + std::to_string(line) + ":"), std::string::npos) << message;
    EXPECT_NE(message.find(detail), std::string::npos) << message;
  }
}

void expect_fingerprint_error(const std::string& json, const std::string& detail) {
  SCOPED_TRACE(json);
  try {
    parse_fingerprint(json, "cache.octet.json");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("cache.octet.json:"), std::string::npos) << message;
    EXPECT_NE(message.find(detail), std::string::npos) << message;
  }
}

std::vector<std::string> folder_entries(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

const std::string kHeader = "TRT-8601-EntropyCalibration2\n";

}  // namespace

TEST(CalibrationCache, RoundTripKeepsNamesBitsAndText) {
  CalibrationCache cache;
  cache.algorithm = "EntropyCalibration2";
  cache.scales = {{"input", 1.0f},
                  {"onnx::Conv_12", 0.0078125f},
                  {"(Unnamed Layer* 4) [Fully Connected]_output", 0.0123456789f},
                  {"tiny", std::numeric_limits<float>::denorm_min()},
                  {"zero", 0.0f},
                  {"huge", std::numeric_limits<float>::max()}};
  const std::string text = serialize_calibration_cache(cache);
  const CalibrationCache back = parse_calibration_cache(text, "mem");
  EXPECT_EQ(back.trt_version, cache.trt_version);
  EXPECT_EQ(back.algorithm, cache.algorithm);
  ASSERT_EQ(back.scales.size(), cache.scales.size());
  for (size_t i = 0; i < cache.scales.size(); ++i) {
    EXPECT_EQ(back.scales[i].first, cache.scales[i].first);
    EXPECT_EQ(bits_of(back.scales[i].second), bits_of(cache.scales[i].second)) << cache.scales[i].first;
  }
  EXPECT_EQ(serialize_calibration_cache(back), text);
}

TEST(CalibrationCache, WritesTensorRtLayout) {
  CalibrationCache cache;
  cache.trt_version = "8601";
  cache.algorithm = "MinMaxCalibration";
  cache.scales = {{"b", 1.0f}, {"a", 0.0078125f}, {"tiny", std::numeric_limits<float>::denorm_min()}};
  EXPECT_EQ(serialize_calibration_cache(cache),
            "TRT-8601-MinMaxCalibration\nb: 3f800000\na: 3c000000\ntiny: 00000001\n");
}

TEST(CalibrationCache, ReadsKnownVectors) {
  const CalibrationCache cache =
      parse_calibration_cache(kHeader + "one: 3f800000\npow: 3c000000\ndenormal: 00000001\n", "mem");
  EXPECT_EQ(*cache.find("one"), 1.0f);
  EXPECT_EQ(*cache.find("pow"), 0.0078125f);
  EXPECT_EQ(*cache.find("denormal"), std::numeric_limits<float>::denorm_min());
  EXPECT_EQ(cache.find("missing"), nullptr);
}

TEST(CalibrationCache, SplitsAtTheLastColon) {
  const CalibrationCache cache =
      parse_calibration_cache(kHeader + "onnx::Conv_12: 3f800000\ninput:0: 3c000000\nno_space:3f800000\n", "mem");
  ASSERT_EQ(cache.scales.size(), 3u);
  EXPECT_EQ(cache.scales[0].first, "onnx::Conv_12");
  EXPECT_EQ(cache.scales[1].first, "input:0");
  EXPECT_EQ(cache.scales[1].second, 0.0078125f);
  EXPECT_EQ(cache.scales[2].first, "no_space");
}

TEST(CalibrationCache, ToleratesCaseLineEndsBlankLinesAndShortHex) {
  const CalibrationCache cache = parse_calibration_cache(
      "TRT-7203-EntropyCalibration2\r\n\r\na: 3F800000\r\n\nzero: 0\nsmall: 1\nlast: 3c000000", "mem");
  ASSERT_EQ(cache.scales.size(), 4u);
  EXPECT_EQ(*cache.find("a"), 1.0f);
  EXPECT_EQ(bits_of(*cache.find("zero")), 0u);
  EXPECT_EQ(*cache.find("small"), std::numeric_limits<float>::denorm_min());
  EXPECT_EQ(*cache.find("last"), 0.0078125f);
}

TEST(CalibrationCache, KeepsUnknownAlgorithmNames) {
  const CalibrationCache cache = parse_calibration_cache("TRT-100300-FutureCalibration\nx: 3f800000\n", "mem");
  EXPECT_EQ(cache.trt_version, "100300");
  EXPECT_EQ(cache.algorithm, "FutureCalibration");
}

TEST(CalibrationCache, RefusesEmptyFiles) {
  for (const std::string text : {"", "\n\n", " \r\n"}) {
    try {
      parse_calibration_cache(text, "cache.txt");
      FAIL() << "expected an error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("cache.txt: calibration cache is empty"), std::string::npos) << e.what();
    }
  }
}

TEST(CalibrationCache, RefusesGarbageHeaders) {
  expect_cache_error("hello\nx: 3f800000\n", 1, "not a TensorRT calibration cache");
  expect_cache_error("TRT-abc-EntropyCalibration2\n", 1, "'TRT-abc-EntropyCalibration2'");
  expect_cache_error("TRT-8601-\n", 1, "TRT-<digits>-<Name>");
  expect_cache_error("TRT--EntropyCalibration2\n", 1, "TRT-<digits>-<Name>");
  expect_cache_error("\nTRT-8601-Entropy Calibration\n", 2, "TRT-<digits>-<Name>");
  // The header of NVIDIA's own (non-TensorRT) 3D-UNet cache in MLPerf Inference v1.0.
  expect_cache_error("0 3ff0000000000000 3fefffeb074a771d\ninput: 3da42ae5\n", 1, "not a TensorRT calibration cache");
}

TEST(CalibrationCache, RefusesBadLines) {
  expect_cache_error(kHeader + "a: 3f800000\nno colon here\n", 3, "found no ':'");
  expect_cache_error(kHeader + "a: 3g800000\n", 2, "'3g800000' is not hexadecimal");
  expect_cache_error(kHeader + "a: 0x3f800000\n", 2, "is not hexadecimal");
  expect_cache_error(kHeader + "a: 3f8000000\n", 2, "more than 8 hex digits");
  expect_cache_error(kHeader + "a: \n", 2, "missing scale");
  expect_cache_error(kHeader + ": 3f800000\n", 2, "empty tensor name");
  // Blank lines still count towards line numbers.
  expect_cache_error(kHeader + "\n\na: 3f80000z\n", 4, "not hexadecimal");
}

TEST(CalibrationCache, RefusesDuplicateTensors) {
  expect_cache_error(kHeader + "a: 3f800000\nb: 3f800000\na: 3c000000\n", 4, "duplicate tensor 'a' (first on line 2)");
}

TEST(CalibrationCache, RefusesScalesThatAreNotFinitePositive) {
  expect_cache_error(kHeader + "a: 7fc00000\n", 2, "NaN");
  expect_cache_error(kHeader + "a: bf800000\n", 2, "negative");
  expect_cache_error(kHeader + "a: 80000000\n", 2, "negative");
  expect_cache_error(kHeader + "a: 7f800000\n", 2, "infinite");
}

TEST(CalibrationCache, ReportsTruncatedFiles) {
  expect_cache_error(kHeader + "a: 3f800000\nb: 3f80", 3, "truncated");
  expect_cache_error(kHeader + "a: 3f800000\nb: ", 3, "truncated");
  expect_cache_error(kHeader + "a: 3f800000\nres2a_bra", 3, "truncated");
}

// NVIDIA's MLPerf Inference v0.5 ResNet-50 cache, as TensorRT 6.0.1 wrote it (see data/README.md).
TEST(CalibrationCache, ReadsRealTensorRtCache) {
  const std::string path = std::string(OCTET_SOURCE_DIR) + "/tests/calibration/data/mlperf_resnet50_calibrator.cache";
  const std::string text = read_text(path);
  const CalibrationCache cache = parse_calibration_cache(text, path);
  EXPECT_EQ(cache.trt_version, "6001");
  EXPECT_EQ(cache.algorithm, "EntropyCalibration2");
  ASSERT_EQ(cache.scales.size(), 125u);
  EXPECT_EQ(cache.scales.front().first, "input_tensor_0");
  EXPECT_EQ(bits_of(cache.scales.front().second), 0x3f810204u);
  EXPECT_NEAR(cache.scales.front().second * 127, 128.0, 1e-4);  // amax 128 on the preprocessed input
  ASSERT_NE(cache.find("resnet_model/conv2d/Conv2D_0"), nullptr);
  EXPECT_EQ(bits_of(*cache.find("resnet_model/conv2d/Conv2D_0")), 0x40d02b32u);
  EXPECT_EQ(cache.scales.back().first, "topk_layer_output_index");
  EXPECT_EQ(bits_of(cache.scales.back().second), 0x410576eeu);
  // Written back byte for byte: octet's writer matches TensorRT's.
  EXPECT_EQ(serialize_calibration_cache(cache), text);
}

TEST(CalibrationCache, RefusesUnwritableContent) {
  const auto expect_refused = [](const CalibrationCache& cache, const std::string& detail) {
    try {
      serialize_calibration_cache(cache);
      FAIL() << "expected an error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(detail), std::string::npos) << e.what();
    }
  };
  CalibrationCache cache;
  cache.algorithm = "EntropyCalibration2";
  cache.scales = {{"two\nlines", 1.0f}};
  expect_refused(cache, "tensor name 'two\nlines'");
  cache.scales.clear();
  cache.trt_version = "8.6";
  expect_refused(cache, "header 'TRT-8.6-EntropyCalibration2'");
  cache.trt_version = "8601";
  cache.algorithm.clear();  // the caller must say which algorithm made the scales
  expect_refused(cache, "header 'TRT-8601-'");
}

TEST(CalibrationAlgo, NamesRoundTrip) {
  for (CalibrationAlgoType algo :
       {CalibrationAlgoType::kLEGACY_CALIBRATION, CalibrationAlgoType::kENTROPY_CALIBRATION,
        CalibrationAlgoType::kENTROPY_CALIBRATION_2, CalibrationAlgoType::kMINMAX_CALIBRATION,
        CalibrationAlgoType::kPERCENTILE_CALIBRATION, CalibrationAlgoType::kMSE_CALIBRATION})
    EXPECT_EQ(calibration_algo_from_name(calibration_algo_name(algo)), algo);
  EXPECT_EQ(calibration_algo_name(CalibrationAlgoType::kENTROPY_CALIBRATION_2), "EntropyCalibration2");
  EXPECT_EQ(calibration_algo_name(CalibrationAlgoType::kMSE_CALIBRATION), "MSECalibration");
  EXPECT_THROW(calibration_algo_from_name("Entropy"), Error);
}

TEST(Fingerprint, RoundTripsAwkwardStrings) {
  const CacheFingerprint fp{"9f86d081884c7d65", "algo=\"MSE\";data=C:\\cal\\set.npy;\nnote=caf\xc3\xa9\x01\t"};
  const std::string json = serialize_fingerprint(fp);
  EXPECT_NE(json.find("\"format\": \"octet-calibration-fingerprint\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"version\": 1"), std::string::npos) << json;
  const CacheFingerprint back = parse_fingerprint(json, "mem");
  EXPECT_EQ(back.network, fp.network);
  EXPECT_EQ(back.settings, fp.settings);
}

TEST(Fingerprint, ReadsHandWrittenJson) {
  const CacheFingerprint fp = parse_fingerprint(
      R"({"settings":"caf\u00e9 \ud83d\ude00 \/","network" : "abc","version":1,)"
      R"("format":"octet-calibration-fingerprint","comment":"ignored"})",
      "mem");
  EXPECT_EQ(fp.network, "abc");
  EXPECT_EQ(fp.settings, "caf\xc3\xa9 \xf0\x9f\x98\x80 /");
}

TEST(Fingerprint, RefusesGarbage) {
  const std::string ok_tail = R"("version": 1, "network": "n", "settings": "s"})";
  expect_fingerprint_error("", "expected '{'");
  expect_fingerprint_error("not json", "expected '{'");
  expect_fingerprint_error(R"({"format": "octet-calibration-fingerprint", )", "expected a string");
  expect_fingerprint_error(R"({"format": "other", )" + ok_tail, "\"format\" is not");
  expect_fingerprint_error(R"({"format": "octet-calibration-fingerprint", "version": 2, "network": "n", "settings": "s"})",
                           "unsupported version 2");
  expect_fingerprint_error(R"({"format": "octet-calibration-fingerprint", "version": "1", "network": "n", "settings": "s"})",
                           "\"version\" must be an integer");
  expect_fingerprint_error(R"({"format": "octet-calibration-fingerprint", "version": 1, "network": "n"})",
                           "missing \"settings\"");
  expect_fingerprint_error(R"({"format": "octet-calibration-fingerprint", )" + ok_tail + " trailing",
                           "unexpected text after");
  expect_fingerprint_error(R"({"format": "octet-calibration-fingerprint", "network": "x", )" + ok_tail,
                           "duplicate key");
  expect_fingerprint_error(R"({"format": "octet-calibration-fingerprint", "version": true})",
                           "expected a string or an integer");
  expect_fingerprint_error("{\"format\": \"a\nb\"}", "control character");
  expect_fingerprint_error(R"({"format": "\q"})", "bad escape");
  expect_fingerprint_error(R"({"format": "\ud83d"})", "surrogate");
}

TEST(Fingerprint, ErrorsNameTheLine) {
  expect_fingerprint_error("{\n  \"format\": \"octet-calibration-fingerprint\",\n  \"version\": x\n}", "cache.octet.json:3:");
}

TEST(Fingerprint, SidecarSitsNextToTheCache) {
  EXPECT_EQ(fingerprint_sidecar_path("/models/resnet50.cache"), "/models/resnet50.cache.octet.json");
}

TEST(AtomicWrite, WritesAndReplacesWithoutLeftovers) {
  TempDir dir;
  const std::string path = dir.file("calib.cache");
  write_file_atomically(path, "first");
  write_file_atomically(path, "second\n");
  EXPECT_EQ(read_text(path), "second\n");
  EXPECT_EQ(folder_entries(dir.path()), std::vector<std::string>{"calib.cache"});
}

TEST(AtomicWrite, MissingFolderNamesThePath) {
  TempDir dir;
  const std::string path = dir.file("missing/calib.cache");
  try {
    write_file_atomically(path, "x");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  EXPECT_TRUE(folder_entries(dir.path()).empty());
}

TEST(AtomicWrite, FailedWriteKeepsTheOldContent) {
  TempDir dir;
  const std::string path = dir.file("calib.cache");
  write_text(path, "old");
  // A folder squatting on the temporary file's name makes the write fail before the rename.
  const std::string temp_path = path + ".tmp." + std::to_string(::getpid());
  std::filesystem::create_directory(temp_path);
  EXPECT_THROW(write_file_atomically(path, "new"), Error);
  EXPECT_EQ(read_text(path), "old");
  EXPECT_TRUE(std::filesystem::is_directory(temp_path));  // not ours to remove
}

TEST(AtomicWrite, FailedRenameRemovesTheTemporaryFile) {
  TempDir dir;
  const std::string path = dir.file("calib.cache");
  std::filesystem::create_directories(path + "/occupied");  // a non-empty folder cannot be replaced by a file
  try {
    write_file_atomically(path, "new");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path + ": cannot write file"), std::string::npos) << e.what();
  }
  EXPECT_EQ(folder_entries(dir.path()), std::vector<std::string>{"calib.cache"});
}
