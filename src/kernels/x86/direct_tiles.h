// The direct convolution's register tiles (variant.h: DirectGeometry), written
// once over the vector vocabulary of gemm_tiles.h and included after it by each
// instruction set's file. A tile is kRows output pixels x kVectors vectors of
// output channels; its accumulators stay in registers over the whole window
// (kernel rows x kernel columns x channels), each step loading the panel's
// weights once and broadcasting one input value per pixel. The block's input is
// already zero-padded, so no step tests a bound. With dilation 1 along the row,
// a kernel row's columns and channels are one contiguous run in the input and
// in the packed weights.

// `source(r)` is pixel r's first input value (before the window's offset).
template <int kRows, int kVectors, class Source>
inline __attribute__((always_inline)) void direct_tile(const DirectGeometry& g, Source source, const float* panel,
                                                       const Epilogue& e, const float* bias, Tail tail, const float* z,
                                                       int64_t ldz, float* y, int64_t ldy) {
  Vec acc[kRows][kVectors];
  start_accumulators<kRows, kVectors>(acc, bias);
  const int64_t run = g.dw == 1 ? g.kw * g.c : g.c;
  const int64_t runs = g.dw == 1 ? 1 : g.kw;
  const float* w = panel;
  for (int64_t i = 0; i < g.kh; ++i)
    for (int64_t j = 0; j < runs; ++j) {
      const int64_t offset = (i * g.dh * g.wp + j * g.dw) * g.c;
      for (int64_t t = 0; t < run; ++t, w += kVectors * kLanes) {
        Vec wv[kVectors];
        for (int v = 0; v < kVectors; ++v) wv[v] = load_aligned(w + v * kLanes);
        for (int r = 0; r < kRows; ++r) {
          const Vec x = broadcast(source(r) + offset + t);
          for (int v = 0; v < kVectors; ++v) acc[r][v] = fma(x, wv[v], acc[r][v]);
        }
      }
    }
  finish_accumulators<kRows, kVectors>(acc, e, tail, z, ldz, y, ldy);
}

// A block's output pixels in order from pixel `first` on, each one's window's first
// input value in the block's padded rows; rows and columns stepped without divisions.
struct PixelSources {
  const DirectGeometry& g;
  const float* x;
  int64_t oy, ox;  // the next pixel's row (in the block) and column
  PixelSources(const DirectGeometry& geometry, const float* rows, int64_t first)
      : g(geometry), x(rows), oy(first / geometry.ow), ox(first % geometry.ow) {}
  const float* next() {
    const float* s = x + (oy * g.sh * g.wp + ox * g.sw) * g.c;
    if (++ox == g.ow) ox = 0, ++oy;
    return s;
  }
};

// Pixels [first, first + count) of the block, in tiles of kRows pixels anywhere in
// the block (each with a pointer of its own), then one at a time.
template <int kVectors>
void direct_pixels(const DirectGeometry& g, const float* x, int64_t first, int64_t count, const float* panel,
                   const Epilogue& e, const float* bias, Tail tail, const float* z, int64_t ldz, float* y,
                   int64_t ldy) {
  constexpr int kRows = tile_rows(kVectors);
  PixelSources pixels(g, x, first);
  int64_t q = first;
  for (; q + kRows <= first + count; q += kRows) {
    const float* source[kRows];
    for (int r = 0; r < kRows; ++r) source[r] = pixels.next();
    direct_tile<kRows, kVectors>(g, [&](int r) { return source[r]; }, panel, e, bias, tail,
                                 z ? z + q * ldz : nullptr, ldz, y + q * ldy, ldy);
  }
  for (; q < first + count; ++q) {
    const float* source = pixels.next();
    direct_tile<1, kVectors>(g, [&](int) { return source; }, panel, e, bias, tail, z ? z + q * ldz : nullptr, ldz,
                             y + q * ldy, ldy);
  }
}

// Layers with few channels and one or two vectors of outputs (stems, LeNet's
// first conv): a kernel row's run is short, so a tile needs many pixels to keep
// the FMAs busy, more than there are registers to point at them. Tiles of kRows
// pixels along one output row instead, whose inputs lie kStep floats apart
// (stride x channels): one pointer serves the tile, the rest are displacements.
template <int kRows, int kVectors, int kStep>
void direct_row_tiles(const DirectGeometry& g, const float* x, int64_t pixels, const float* panel,
                      const Epilogue& e, const float* bias, Tail tail, const float* z, int64_t ldz, float* y,
                      int64_t ldy) {
  for (int64_t row = 0; row * g.ow < pixels; ++row) {
    const int64_t q0 = row * g.ow;
    int64_t ox = 0;
    for (; ox + kRows <= g.ow; ox += kRows) {
      const float* base = x + (row * g.sh * g.wp + ox * g.sw) * g.c;
      const int64_t q = q0 + ox;
      direct_tile<kRows, kVectors>(g, [&](int r) { return base + r * kStep; }, panel, e, bias, tail,
                                   z ? z + q * ldz : nullptr, ldz, y + q * ldy, ldy);
    }
    if (ox < g.ow) direct_pixels<kVectors>(g, x, q0 + ox, g.ow - ox, panel, e, bias, tail, z, ldz, y, ldy);
  }
}

// Calls f.template operator()<kWidth>() when `width` is kWidth and a tile that wide fits the registers.
template <int kVectors, int kWidth, class F>
bool call_with_row_width(int width, F& f) {
  if constexpr (kWidth * kVectors <= kMaxAccumulators)
    if (width == kWidth) return f.template operator()<kWidth>(), true;
  return false;
}

// The row-tile widths, widest first. call<kVectors>(ow, f) calls f.template
// operator()<W>() for the width W that suits rows of `ow` pixels: of those that fit
// the registers and the row, the widest that divides the row, else the widest;
// false when none fits.
template <int... kWidths>
struct RowTileWidths {
  template <int kVectors, class F>
  static bool call(int64_t ow, F f) {
    int chosen = 0;
    for (int width : {kWidths...}) {
      if (width * kVectors > kMaxAccumulators || width > ow) continue;
      if (ow % width == 0) {
        chosen = width;
        break;
      }
      if (!chosen) chosen = width;
    }
    return (call_with_row_width<kVectors, kWidths>(chosen, f) || ...);
  }
};

// Calls f.template operator()<kStep>() for the row tiles' input steps (stride x channels) they are made for.
template <class F>
bool with_row_step(int64_t step, F f) {
  switch (step) {
    case 1: return f.template operator()<1>();
    case 2: return f.template operator()<2>();
    case 3: return f.template operator()<3>();
    case 6: return f.template operator()<6>();
    default: return false;
  }
}

// The block's pixels against one panel whose real columns fill kVectors vectors.
template <int kVectors>
void direct_panel(const DirectGeometry& g, const float* x, int64_t pixels, const float* panel, const Epilogue& e,
                  const float* bias, Tail tail, const float* z, int64_t ldz, float* y, int64_t ldy) {
  if constexpr (kVectors <= 2) {
    const bool row_tiled = pixels % g.ow == 0 && g.kw * g.c <= 16 && with_row_step(g.sw * g.c, [&]<int kStep>() {
      return RowTileWidths<16, 14, 12, 8>::call<kVectors>(g.ow, [&]<int kWidth>() {
        direct_row_tiles<kWidth, kVectors, kStep>(g, x, pixels, panel, e, bias, tail, z, ldz, y, ldy);
      });
    });
    if (row_tiled) return;
  }
  direct_pixels<kVectors>(g, x, 0, pixels, panel, e, bias, tail, z, ldz, y, ldy);
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

void max_pool(const float* x, int64_t x_cols, int64_t rows, int64_t cols, int64_t m, const PoolWindow& window,
              float* y) {
  const Tail tail = tail_mask(static_cast<int>(m - (m - 1) / kLanes * kLanes));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t col = 0; col < cols; ++col) {
      const float* first = x + (r * window.sh * x_cols + col * window.sw) * m;
      float* out = y + (r * cols + col) * m;
      for (int64_t ch = 0; ch < m; ch += kLanes) {
        const bool whole = ch + kLanes <= m;
        Vec best = whole ? load(first + ch) : load_tail(first + ch, tail);
        for (int64_t i = 0; i < window.kh; ++i)
          for (int64_t j = 0; j < window.kw; ++j) {
            const float* in = first + (i * x_cols + j) * m + ch;
            best = max(whole ? load(in) : load_tail(in, tail), best);
          }
        if (whole)
          store(out + ch, best);
        else
          store_tail(out + ch, best, tail);
      }
    }
}

// Depthwise: kDepthwiseRows pixels x one vector of channels a tile, the tap's weight
// vector loaded once for the tile's pixels.
constexpr int kDepthwiseRows = 4;

template <int kRows>
inline __attribute__((always_inline)) void depthwise_tile(const DirectGeometry& g, const float* const (&source)[kRows],
                                                          const float* w, int64_t ch, const Epilogue& e, Tail tail,
                                                          bool whole, const float* z, float* y) {
  const int64_t stride = (g.c + kLanes - 1) / kLanes * kLanes;  // w's row: the channels, whole vectors
  Vec acc[kRows];
  const Vec b = e.bias ? load(e.bias + ch) : zero();
  for (int r = 0; r < kRows; ++r) acc[r] = b;
  for (int64_t i = 0; i < g.kh; ++i)
    for (int64_t j = 0; j < g.kw; ++j) {
      const int64_t offset = (i * g.dh * g.wp + j * g.dw) * g.c + ch;
      const Vec wv = load(w + (i * g.kw + j) * stride + ch);
      for (int r = 0; r < kRows; ++r)
        acc[r] = fma(whole ? load(source[r] + offset) : load_tail(source[r] + offset, tail), wv, acc[r]);
    }
  for (int r = 0; r < kRows; ++r) {
    Vec out = acc[r];
    if (z) out = add(out, whole ? load(z + r * g.c + ch) : load_tail(z + r * g.c + ch, tail));
    if (whole)
      store(y + r * g.c + ch, activate(out, e));
    else
      store_tail(y + r * g.c + ch, activate(out, e), tail);
  }
}

void depthwise_conv(const DirectGeometry& g, const float* x, int64_t pixels, const float* w, const Epilogue& e,
                    const float* z, float* y) {
  const Tail tail = tail_mask(static_cast<int>(g.c - (g.c - 1) / kLanes * kLanes));
  PixelSources sources(g, x, 0);
  int64_t q = 0;
  for (; q < pixels; q += kDepthwiseRows) {
    const float* zq = z ? z + q * g.c : nullptr;
    if (q + kDepthwiseRows <= pixels) {
      const float* source[kDepthwiseRows];
      for (int r = 0; r < kDepthwiseRows; ++r) source[r] = sources.next();
      for (int64_t ch = 0; ch < g.c; ch += kLanes)
        depthwise_tile<kDepthwiseRows>(g, source, w, ch, e, tail, ch + kLanes <= g.c, zq, y + q * g.c);
    } else {
      for (int64_t p = q; p < pixels; ++p) {
        const float* source[1] = {sources.next()};
        for (int64_t ch = 0; ch < g.c; ch += kLanes)
          depthwise_tile<1>(g, source, w, ch, e, tail, ch + kLanes <= g.c, z ? z + p * g.c : nullptr, y + p * g.c);
      }
    }
  }
}
