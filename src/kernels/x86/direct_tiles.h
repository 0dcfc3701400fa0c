// The direct convolution's register tiles (variant.h: DirectGeometry), written
// once over the vector vocabulary of gemm_tiles.h and included after it by each
// instruction set's file. A tile is kRows output pixels x kVectors vectors of
// output channels; its accumulators stay in registers over the whole window
// (kernel rows x kernel columns x channels), each step loading the panel's
// weights once and broadcasting one input value per pixel. The block's input is
// already zero-padded, so no step tests a bound. With dilation 1 along the row,
// a kernel row's columns and channels are one contiguous run in the input and
// in the packed weights.

template <int kRows, int kVectors>
inline __attribute__((always_inline)) void direct_tile(const DirectGeometry& g, const float* const (&source)[kRows],
                                                       const float* panel, const Epilogue& e, const float* bias,
                                                       Tail tail, const float* z, int64_t ldz, float* y, int64_t ldy) {
  Vec acc[kRows][kVectors];
  start_accumulators<kRows, kVectors>(acc, bias);
  const int64_t run = g.dw == 1 ? g.kw * g.c : g.c;
  const int64_t runs = g.dw == 1 ? 1 : g.kw;
  const float* w = panel;
  for (int64_t i = 0; i < g.kh; ++i)
    for (int64_t j = 0; j < runs; ++j) {
      const int64_t offset = (i * g.dh * g.wp + j * g.dw) * g.c;
      const float* p[kRows];
      for (int r = 0; r < kRows; ++r) p[r] = source[r] + offset;
      for (int64_t t = 0; t < run; ++t, w += kVectors * kLanes) {
        Vec wv[kVectors];
        for (int v = 0; v < kVectors; ++v) wv[v] = load_aligned(w + v * kLanes);
        for (int r = 0; r < kRows; ++r) {
          const Vec x = broadcast(p[r] + t);
          for (int v = 0; v < kVectors; ++v) acc[r][v] = fma(x, wv[v], acc[r][v]);
        }
      }
    }
  finish_accumulators<kRows, kVectors>(acc, e, tail, z, ldz, y, ldy);
}

// The block's pixels against one panel whose real columns fill kVectors vectors.
template <int kVectors>
void direct_panel(const DirectGeometry& g, const float* x, int64_t pixels, const float* panel, const Epilogue& e,
                  const float* bias, Tail tail, const float* z, int64_t ldz, float* y, int64_t ldy) {
  constexpr int kRows = tile_rows(kVectors);
  int64_t oy = 0, ox = 0;  // pixel q's output row (in the block) and column, stepped without divisions
  auto next_source = [&] {
    const float* s = x + (oy * g.sh * g.wp + ox * g.sw) * g.c;
    if (++ox == g.ow) ox = 0, ++oy;
    return s;
  };
  int64_t q = 0;
  for (; q + kRows <= pixels; q += kRows) {
    const float* source[kRows];
    for (int r = 0; r < kRows; ++r) source[r] = next_source();
    direct_tile<kRows, kVectors>(g, source, panel, e, bias, tail, z ? z + q * ldz : nullptr, ldz, y + q * ldy, ldy);
  }
  for (; q < pixels; ++q) {
    const float* source[1] = {next_source()};
    direct_tile<1, kVectors>(g, source, panel, e, bias, tail, z ? z + q * ldz : nullptr, ldz, y + q * ldy, ldy);
  }
}

void direct_conv(const DirectGeometry& g, const float* x, int64_t pixels, const PackedMatrix& w, const Epilogue& e,
                 const float* z, float* y) {
  const int64_t m = w.n;
  for (int64_t j = 0; j < w.panels(); ++j) {
    const int64_t cols = lesser(kPanel, m - j * kPanel);
    const int vectors = static_cast<int>((cols + kLanes - 1) / kLanes);
    const Tail tail = tail_mask(static_cast<int>(cols - (vectors - 1) * kLanes));
    const float* bias = e.bias ? e.bias + j * kPanel : nullptr;
    const float* zj = z ? z + j * kPanel : nullptr;
    with_vectors(vectors, [&]<int kVectors>() {
      direct_panel<kVectors>(g, x, pixels, w.panel_data(j), e, bias, tail, zj, m, y + j * kPanel, m);
    });
  }
}
