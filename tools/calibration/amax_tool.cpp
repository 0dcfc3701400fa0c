// Test helper: prints the amax every calibration algorithm picks, as JSON.
//   octet_amax_tool DATA.npy              float32 values, histogrammed as calibration does
//   octet_amax_tool HIST.npy BIN_WIDTH    int64/uint64 counts of |x|; bin i = [i*w, (i+1)*w)
// For a bare histogram absmax is taken as the upper edge of the last nonzero bin.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "calibration/amax_algorithms.h"
#include "calibration/tensor_statistics.h"
#include "octet/npy.h"

namespace {

void print_amaxes(const octet::AbsHistogram& hist) {
  std::printf("{\"entropy2\": %.9g, \"entropy\": %.9g, \"percentile_99.99\": %.9g, \"minmax\": %.9g, \"mse\": %.9g}\n",
              octet::amax_entropy2(hist), octet::amax_entropy_legacy(hist), octet::amax_percentile(hist, 99.99),
              octet::amax_minmax(hist), octet::amax_mse(hist));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 && argc != 3) {
    std::fprintf(stderr, "usage: %s DATA.npy | HIST.npy BIN_WIDTH\n", argv[0]);
    return 2;
  }
  try {
    const octet::Tensor tensor = octet::read_npy(argv[1]);
    if (argc == 2) {
      if (tensor.dtype() != octet::DType::kFloat32) throw octet::Error(std::string(argv[1]) + ": expected float32 data");
      octet::TensorStatistics stats;
      stats.add(tensor.data<float>(), tensor.numel());
      print_amaxes(octet::AbsHistogram::of(stats));
      return 0;
    }
    if (tensor.dtype() != octet::DType::kInt64 && tensor.dtype() != octet::DType::kUInt64) {
      throw octet::Error(std::string(argv[1]) + ": expected int64 or uint64 histogram counts");
    }
    std::vector<uint64_t> counts(tensor.numel());
    for (int64_t i = 0; i < tensor.numel(); ++i) {
      if (tensor.dtype() == octet::DType::kUInt64) {
        counts[i] = tensor.data<uint64_t>()[i];
      } else if (tensor.data<int64_t>()[i] >= 0) {
        counts[i] = static_cast<uint64_t>(tensor.data<int64_t>()[i]);
      } else {
        throw octet::Error(std::string(argv[1]) + ": negative count at bin " + std::to_string(i));
      }
    }
    char* end = nullptr;
    const double bin_width = std::strtod(argv[2], &end);
    if (*end != '\0' || !(bin_width > 0)) throw octet::Error(std::string("bad bin width '") + argv[2] + "'");
    print_amaxes(octet::AbsHistogram::from_counts(counts, bin_width));
    return 0;
  } catch (const octet::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
