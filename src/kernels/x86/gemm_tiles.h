// The register tiles and cache blocking of the FP32 product (variant.h),
// written once over a small vector vocabulary and included by each instruction
// set's file inside its own namespace, after it defines:
//   Vec, Tail, kLanes, kPanelVectors, kMaxAccumulators, tail_mask(count),
//   load_aligned, load, load_tail, store, store_tail, broadcast, splat, zero,
//   fma(a, b, c) = a * b + c, add, sub, max, min.
// Everything here stays inside that namespace (no shared inline functions that
// the linker could merge across instruction sets).
//
// A tile is kRows rows x kVectors vectors of one panel (whose rows are kVectors
// vectors wide: PackedMatrix::panel_width); its accumulators stay in registers
// over all of k, each step loading the panel's kVectors weights once and
// broadcasting one A value per row.

constexpr int64_t kPanel = kLanes * kPanelVectors;
// A tile's rows: enough accumulators for the FMA latency, but no more than 8 rows:
// each row is one more A value broadcast per step, and taller tiles of narrow
// panels wait on loads (the timing test's 32->16 1x1 conv: 1.21 ms with 24-row tiles
// at commit 69c8ca0, 0.47 ms with 8).
constexpr int tile_rows(int vectors) { return kMaxAccumulators / vectors < 8 ? kMaxAccumulators / vectors : 8; }
// Rows per unit of work: a multiple of every tile height (8, 6, 4 and 3).
constexpr int64_t kRowStep = 24;
// A's rows are processed in blocks that stay in L2 while all panels pass over them,
// and panels in groups that stay in L2 while the rows pass.
constexpr int64_t kABlockBytes = 256 * 1024, kPanelGroupBytes = 512 * 1024;

inline int64_t lesser(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t greater(int64_t a, int64_t b) { return a > b ? a : b; }

inline Vec activate(Vec v, const Epilogue& e) {
  switch (e.activation) {
    case Activation::kNone: return v;
    case Activation::kRelu: return max(v, zero());
    case Activation::kClip: return min(max(v, splat(e.lo)), splat(e.hi));
    case Activation::kLeakyRelu: return fma(min(v, zero()), splat(e.alpha), max(v, zero()));
  }
  return v;
}

// Calls f.template operator()<V>() with V = `vectors` (1 .. kPanelVectors) as a constant.
template <class F>
inline void with_vectors(int vectors, F f) {
  static_assert(kPanelVectors == 4);
  switch (vectors) {
    case 1: f.template operator()<1>(); break;
    case 2: f.template operator()<2>(); break;
    case 3: f.template operator()<3>(); break;
    default: f.template operator()<4>();
  }
}

// A tile's accumulators start at the bias (or zero) and end in Y: Z added, the
// activation applied, the last vector cut to the panel's real columns. Z may be Y.
template <int kRows, int kVectors>
inline __attribute__((always_inline)) void start_accumulators(Vec (&acc)[kRows][kVectors], const float* bias) {
  for (int v = 0; v < kVectors; ++v) {
    const Vec b = bias ? load(bias + v * kLanes) : zero();
    for (int r = 0; r < kRows; ++r) acc[r][v] = b;
  }
}

template <int kRows, int kVectors>
inline __attribute__((always_inline)) void finish_accumulators(Vec (&acc)[kRows][kVectors], const Epilogue& e,
                                                               Tail tail, const float* z, int64_t ldz, float* y,
                                                               int64_t ldy) {
  for (int r = 0; r < kRows; ++r) {
    for (int v = 0; v + 1 < kVectors; ++v) {
      Vec out = acc[r][v];
      if (z) out = add(out, load(z + r * ldz + v * kLanes));
      store(y + r * ldy + v * kLanes, activate(out, e));
    }
    constexpr int last = kVectors - 1;
    Vec out = acc[r][last];
    if (z) out = add(out, load_tail(z + r * ldz + last * kLanes, tail));
    store_tail(y + r * ldy + last * kLanes, activate(out, e), tail);
  }
}

// One tile. With `ahead` set, the same tile one row step later exists: its A
// lines (`a_next`, when set) and its epilogue's lines (Z read, or Y written) are
// prefetched while this tile computes, a memory latency or more before their use.
template <int kRows, int kVectors>
inline __attribute__((always_inline)) void tile(const float* a, int64_t lda, const float* a_next, bool ahead,
                                                const float* panel, int64_t k, const Epilogue& e, const float* bias,
                                                Tail tail, const float* z, int64_t ldz, float* y, int64_t ldy) {
  Vec acc[kRows][kVectors];
  start_accumulators<kRows, kVectors>(acc, bias);
  if (ahead)
    for (int r = 0; r < kRows; ++r)
      for (int v = 0; v < kVectors; ++v) {
        if (z)
          __builtin_prefetch(z + (r + kRowStep) * ldz + v * kLanes, 0, 3);
        else
          __builtin_prefetch(y + (r + kRowStep) * ldy + v * kLanes, 1, 3);
      }
  for (int64_t kk = 0; kk < k; ++kk) {
    if (a_next && kk % 16 == 0)
      for (int r = 0; r < kRows; ++r) __builtin_prefetch(a_next + r * lda + kk, 0, 3);
    Vec w[kVectors];
    for (int v = 0; v < kVectors; ++v) w[v] = load_aligned(panel + kk * kVectors * kLanes + v * kLanes);
    for (int r = 0; r < kRows; ++r) {
      const Vec x = broadcast(a + r * lda + kk);
      for (int v = 0; v < kVectors; ++v) acc[r][v] = fma(x, w[v], acc[r][v]);
    }
  }
  finish_accumulators<kRows, kVectors>(acc, e, tail, z, ldz, y, ldy);
}

// Rows [begin, end) of one panel whose real columns fill kVectors vectors.
template <int kVectors>
void panel_rows(const float* a, int64_t lda, int64_t begin, int64_t end, int64_t rows, bool prefetch_next,
                const float* panel, int64_t k, const Epilogue& e, const float* bias, Tail tail, const float* z,
                int64_t ldz, float* y, int64_t ldy) {
  constexpr int kRows = tile_rows(kVectors);
  for (int64_t q = begin; q < end; q += kRows) {
    const float* zq = z ? z + q * ldz : nullptr;
    if (q + kRows <= end) {
      const bool ahead = q + kRowStep + kRows <= rows;
      tile<kRows, kVectors>(a + q * lda, lda, ahead && prefetch_next ? a + (q + kRowStep) * lda : nullptr, ahead,
                            panel, k, e, bias, tail, zq, ldz, y + q * ldy, ldy);
    } else {
      for (int64_t i = q; i < end; ++i)
        tile<1, kVectors>(a + i * lda, lda, nullptr, false, panel, k, e, bias, tail, z ? z + i * ldz : nullptr, ldz,
                          y + i * ldy, ldy);
    }
  }
}

void multiply(const float* a, int64_t lda, int64_t rows, const PackedMatrix& b, const Epilogue& e, const float* z,
              int64_t ldz, float* y, int64_t ldy) {
  const int64_t panels = b.panels();
  const int64_t block = greater(kRowStep, lesser(16 * kRowStep, kABlockBytes / (b.k * 4) / kRowStep * kRowStep));
  const int64_t group = greater(1, kPanelGroupBytes / (b.k * kPanel * 4));
  for (int64_t r0 = 0; r0 < rows; r0 += block) {
    const int64_t r1 = lesser(rows, r0 + block);
    for (int64_t g0 = 0; g0 < panels; g0 += group) {
      const int64_t g1 = lesser(panels, g0 + group);
      for (int64_t s = r0; s < r1; s += kRowStep) {
        const int64_t s_end = lesser(r1, s + kRowStep);
        for (int64_t j = g0; j < g1; ++j) {
          const int64_t cols = lesser(kPanel, b.n - j * kPanel);
          const int vectors = static_cast<int>((cols + kLanes - 1) / kLanes);
          const Tail tail = tail_mask(static_cast<int>(cols - (vectors - 1) * kLanes));
          // A's next rows are fetched once, during the group's last panel.
          const bool prefetch_next = j == g1 - 1;
          const float* panel = b.panel_data(j);
          const float* bias = e.bias ? e.bias + j * kPanel : nullptr;
          const float* zj = z ? z + j * kPanel : nullptr;
          float* yj = y + j * kPanel;
          with_vectors(vectors, [&]<int kVectors>() {
            panel_rows<kVectors>(a, lda, s, s_end, rows, prefetch_next, panel, b.k, e, bias, tail, zj, ldz, yj, ldy);
          });
        }
      }
    }
  }
}
