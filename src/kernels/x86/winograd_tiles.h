// Winograd F(2x2, 3x3) input and output transforms (variant.h), written once over
// the vector vocabulary of gemm_tiles.h and included after it by each instruction
// set's file. Vectors run along channels (NHWC keeps them contiguous); a tile's
// 4x4 input pixels outside the image read as zeros, its 2x2 outputs outside Y
// are dropped.
//   V = B^T d B with B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
//   Y = A^T P A with A^T = [1 1 1 0; 0 1 -1 -1]

// The tile's image and top-left input pixel (which may lie in the padding).
struct TileOrigin {
  int64_t image, y, x;
};
inline TileOrigin tile_origin(const WinogradGeometry& g, int64_t t) {
  const int64_t per_image = g.tiles_h() * g.tiles_w();
  const int64_t in_image = t % per_image;
  return {t / per_image, in_image / g.tiles_w() * 2 - g.top, in_image % g.tiles_w() * 2 - g.left};
}

void winograd_input(const WinogradGeometry& g, const float* x, int64_t first, int64_t count, float* v,
                    int64_t v_stride) {
  for (int64_t i = 0; i < count; ++i) {
    const TileOrigin o = tile_origin(g, first + i);
    const float* pixel[4][4];  // null: padding
    for (int r = 0; r < 4; ++r)
      for (int s = 0; s < 4; ++s) {
        const int64_t iy = o.y + r, ix = o.x + s;
        pixel[r][s] = iy >= 0 && iy < g.h && ix >= 0 && ix < g.w ? x + ((o.image * g.h + iy) * g.w + ix) * g.c : nullptr;
      }
    for (int64_t c = 0; c < g.c; c += kLanes) {
      const int lanes = static_cast<int>(lesser(kLanes, g.c - c));
      const Tail tail = tail_mask(lanes);
      Vec d[4][4], t[4][4];
      for (int r = 0; r < 4; ++r)
        for (int s = 0; s < 4; ++s) d[r][s] = pixel[r][s] ? load_tail(pixel[r][s] + c, tail) : zero();
      for (int s = 0; s < 4; ++s) {
        t[0][s] = sub(d[0][s], d[2][s]);
        t[1][s] = add(d[1][s], d[2][s]);
        t[2][s] = sub(d[2][s], d[1][s]);
        t[3][s] = sub(d[1][s], d[3][s]);
      }
      float* out = v + i * g.c + c;
      for (int r = 0; r < 4; ++r) {
        const Vec u[4] = {sub(t[r][0], t[r][2]), add(t[r][1], t[r][2]), sub(t[r][2], t[r][1]), sub(t[r][1], t[r][3])};
        for (int s = 0; s < 4; ++s) {
          if (lanes == kLanes)
            store(out + (r * 4 + s) * v_stride, u[s]);
          else
            store_tail(out + (r * 4 + s) * v_stride, u[s], tail);
        }
      }
    }
  }
}

void winograd_output(const WinogradGeometry& g, const float* p, int64_t p_stride, int64_t first, int64_t count,
                     const Epilogue& e, const float* z, float* y) {
  for (int64_t i = 0; i < count; ++i) {
    const TileOrigin o = tile_origin(g, first + i);
    const int64_t oy = o.y + g.top, ox = o.x + g.left;  // the tile's first output pixel
    for (int64_t c = 0; c < g.m; c += kLanes) {
      const int lanes = static_cast<int>(lesser(kLanes, g.m - c));
      const Tail tail = tail_mask(lanes);
      const float* in = p + i * g.m + c;
      Vec s[2][4];
      for (int col = 0; col < 4; ++col) {
        const Vec m0 = load_tail(in + (0 * 4 + col) * p_stride, tail), m1 = load_tail(in + (1 * 4 + col) * p_stride, tail);
        const Vec m2 = load_tail(in + (2 * 4 + col) * p_stride, tail), m3 = load_tail(in + (3 * 4 + col) * p_stride, tail);
        s[0][col] = add(add(m0, m1), m2);
        s[1][col] = sub(sub(m1, m2), m3);
      }
      const Vec bias = e.bias ? load(e.bias + c) : zero();
      for (int r = 0; r < 2; ++r) {
        if (oy + r >= g.oh) break;
        const Vec out[2] = {add(add(s[r][0], s[r][1]), s[r][2]), sub(sub(s[r][1], s[r][2]), s[r][3])};
        for (int q = 0; q < 2; ++q) {
          if (ox + q >= g.ow) break;
          const int64_t at = ((o.image * g.oh + oy + r) * g.ow + ox + q) * g.m + c;
          Vec value = add(out[q], bias);
          if (z) value = add(value, load_tail(z + at, tail));
          store_tail(y + at, activate(value, e), tail);
        }
      }
    }
  }
}
