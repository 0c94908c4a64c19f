package gemmasm

import (
	"math"
	"math/rand"
	"testing"
)

func TestTaps(t *testing.T) {
	if !OK {
		t.Skip("no AVX2/FMA")
	}
	r := rand.New(rand.NewSource(1))
	base := make([]float32, 400)
	for i := range base {
		base[i] = float32(r.NormFloat64())
	}
	w := []float32{0.5, -1, 2}
	offs := []int{0, 7, 30}
	for _, stride := range []int{1, 2} {
		for _, n := range []int{8, 13, 40, 61} {
			y := make([]float32, n)
			for i := range y {
				y[i] = float32(i)
			}
			var done int
			if stride == 1 {
				done = Taps(y, w, offs, base)
			} else {
				done = TapsStride2(y, w, offs, base)
			}
			if done != n&^7 {
				t.Fatalf("stride %d n %d: done %d", stride, n, done)
			}
			for i := 0; i < done; i++ {
				want := float64(i)
				for k := range w {
					want += float64(w[k]) * float64(base[offs[k]+stride*i])
				}
				if math.Abs(float64(y[i])-want) > 1e-5*(1+math.Abs(want)) {
					t.Fatalf("stride %d n %d: y[%d] = %v, want %v", stride, n, i, y[i], want)
				}
			}
			for i := done; i < n; i++ {
				if y[i] != float32(i) {
					t.Fatalf("stride %d: tail y[%d] touched", stride, i)
				}
			}
		}
	}
}

func TestKernel6x16(t *testing.T) {
	if !OK {
		t.Skip("no AVX2/FMA")
	}
	r := rand.New(rand.NewSource(2))
	const kc, ldc = 37, 20
	a := make([]float32, kc*6)
	b := make([]float32, kc*16)
	c := make([]float32, 5*ldc+16)
	for i := range a {
		a[i] = float32(r.NormFloat64())
	}
	for i := range b {
		b[i] = float32(r.NormFloat64())
	}
	for i := range c {
		c[i] = 1
	}
	Kernel6x16(kc, a, b, c, ldc)
	for i := 0; i < 6; i++ {
		for j := 0; j < ldc && i*ldc+j < len(c); j++ {
			want := 1.0
			if j < 16 {
				for p := 0; p < kc; p++ {
					want += float64(a[p*6+i]) * float64(b[p*16+j])
				}
			}
			if got := float64(c[i*ldc+j]); math.Abs(got-want) > 1e-4*(1+math.Abs(want)) {
				t.Fatalf("c[%d,%d] = %v, want %v", i, j, got, want)
			}
		}
	}
}

func TestDeinterleave2(t *testing.T) {
	if !OK {
		t.Skip("no AVX2/FMA")
	}
	for _, n := range []int{0, 7, 8, 13, 16, 61} {
		src := make([]float32, 2*n+1)
		for i := range src {
			src[i] = float32(i)
		}
		even, odd := make([]float32, n), make([]float32, n)
		done := Deinterleave2(src, even, odd)
		if done != n&^7 {
			t.Fatalf("n=%d: done %d", n, done)
		}
		for i := 0; i < done; i++ {
			if even[i] != float32(2*i) || odd[i] != float32(2*i+1) {
				t.Fatalf("n=%d: i=%d even %v odd %v", n, i, even[i], odd[i])
			}
		}
	}
}

func TestPackA6(t *testing.T) {
	if !OK {
		t.Skip("no AVX2/FMA")
	}
	for _, kb := range []int{7, 8, 9, 16, 17, 29} {
		lda := kb + 3
		src := make([]float32, 6*lda)
		for i := range src {
			src[i] = float32(i)
		}
		dst := make([]float32, kb*6)
		for i := range dst {
			dst[i] = -1
		}
		n := PackA6(kb, src, lda, dst)
		if n != (kb-1)&^7 {
			t.Fatalf("kb=%d: packed %d", kb, n)
		}
		for p := 0; p < n; p++ {
			for i := 0; i < 6; i++ {
				if got, want := dst[p*6+i], src[i*lda+p]; got != want {
					t.Fatalf("kb=%d: dst[%d*6+%d] = %v, want %v", kb, p, i, got, want)
				}
			}
		}
	}
}

// TestTranspose checks the 8- and 16-row transposes for column counts below, at
// and past multiples of 8, with padded strides on both sides, and that
// nothing outside the 8 destination columns of each row is written.
func TestTranspose(t *testing.T) {
	if !OK {
		t.Skip("no AVX2/FMA")
	}
	for _, tc := range []struct {
		rows int
		fn   func(int, []float32, int, []float32, int) int
	}{{8, Transpose8}, {16, Transpose16}} {
		for _, cols := range []int{5, 8, 16, 29, 64} {
			checkTranspose(t, tc.rows, cols, tc.fn)
		}
	}
}

// checkTranspose checks one transpose kernel on a rows×cols matrix.
func checkTranspose(t *testing.T, rows, cols int, fn func(int, []float32, int, []float32, int) int) {
	t.Helper()
	lds, ldd := cols+3, rows+3
	src := make([]float32, (rows-1)*lds+cols)
	for i := range src {
		src[i] = float32(i)
	}
	dst := make([]float32, (cols-1)*ldd+rows)
	for i := range dst {
		dst[i] = -1
	}
	n := fn(cols, src, lds, dst, ldd)
	if n != cols&^7 {
		t.Fatalf("rows=%d cols=%d: transposed %d", rows, cols, n)
	}
	for i, v := range dst {
		c, r := i/ldd, i%ldd
		want := float32(-1)
		if c < n && r < rows {
			want = src[r*lds+c]
		}
		if v != want {
			t.Fatalf("rows=%d cols=%d: dst[%d*%d+%d] = %v, want %v", rows, cols, c, ldd, r, v, want)
		}
	}
}

// TestMaxPool3x3s2 checks the AVX-512 pooling rows against a scalar
// reference with ties (values on a coarse grid) and NaNs, with and without
// the positions, and that it stops where its windows would leave a row.
func TestMaxPool3x3s2(t *testing.T) {
	if !OK512 {
		t.Skip("no AVX-512")
	}
	r := rand.New(rand.NewSource(4))
	for _, w := range []int{33, 34, 65, 111, 112, 200} {
		var rows [3][]float32
		for i := range rows {
			rows[i] = make([]float32, w)
			for j := range rows[i] {
				rows[i][j] = float32(r.Intn(5))
			}
		}
		rows[1][w/3] = float32(math.NaN())
		y := make([]float32, w)
		arg := make([]uint8, w)
		for _, withArg := range []bool{true, false} {
			a := arg
			if !withArg {
				a = nil
			}
			n := MaxPool3x3s2(y, a, rows[0], rows[1], rows[2])
			if want := (w - 2) / 2 &^ 15; n != want {
				t.Fatalf("w=%d: pooled %d, want %d", w, n, want)
			}
			for j := 0; j < n; j++ {
				m, k, nan := float32(math.Inf(-1)), -1, false
				for i := 0; i < 3; i++ {
					for c := 0; c < 3; c++ {
						v := rows[i][2*j+c]
						nan = nan || v != v
						if v > m {
							m = v
						}
					}
				}
				for i := 0; i < 3 && k < 0 && !nan; i++ {
					for c := 0; c < 3 && k < 0; c++ {
						if rows[i][2*j+c] == m {
							k = i*3 + c
						}
					}
				}
				if nan {
					if y[j] == y[j] {
						t.Fatalf("w=%d: y[%d] = %v, want NaN", w, j, y[j])
					}
					k = 255
				} else if y[j] != m {
					t.Fatalf("w=%d: y[%d] = %v, want %v", w, j, y[j], m)
				}
				if withArg && int(arg[j]) != k {
					t.Fatalf("w=%d: arg[%d] = %d, want %d", w, j, arg[j], k)
				}
			}
		}
	}
}

// TestKernel16OffsMasked checks the masked tail kernels against float64
// sums for every row and column count, with bias, load and clamp, and that
// no column past cols is written. B's rows end right after their cols
// values, so a read past them would fault the slice check or the page.
func TestKernel16OffsMasked(t *testing.T) {
	if !OK512 {
		t.Skip("no AVX-512")
	}
	r := rand.New(rand.NewSource(3))
	const kc, ldc = 29, 40
	a := make([]float32, kc*6)
	for i := range a {
		a[i] = float32(r.NormFloat64())
	}
	bias := []float32{0.5, -1, 2, 0, 3, -2}
	for cols := 1; cols < 16; cols++ {
		// Row p of B is base[p*cols : (p+1)*cols]: packed back to back.
		base := make([]float32, kc*cols)
		for i := range base {
			base[i] = float32(r.NormFloat64())
		}
		offs := make([]int, kc)
		for p := range offs {
			offs[p] = p * cols
		}
		for rows := 1; rows <= 6; rows++ {
			for _, mode := range []int{0, ModeLoad, ModeClamp, ModeLoad | ModeClamp} {
				c := make([]float32, 6*ldc)
				for i := range c {
					c[i] = float32(i%7) - 3
				}
				old := append([]float32(nil), c...)
				lo, hi := float32(-1.5), float32(2.5)
				Kernel16OffsMasked(rows, cols, kc, a, base, offs, c, ldc, bias, mode, lo, hi)
				for i := 0; i < 6; i++ {
					for j := 0; j < ldc; j++ {
						got := c[i*ldc+j]
						if i >= rows || j >= cols {
							if got != old[i*ldc+j] {
								t.Fatalf("cols %d rows %d mode %d: c[%d][%d] written", cols, rows, mode, i, j)
							}
							continue
						}
						want := float64(bias[i])
						for p := 0; p < kc; p++ {
							want += float64(a[p*6+i]) * float64(base[offs[p]+j])
						}
						if mode&ModeLoad != 0 {
							want += float64(old[i*ldc+j])
						}
						if mode&ModeClamp != 0 {
							want = math.Min(math.Max(want, float64(lo)), float64(hi))
						}
						if math.Abs(float64(got)-want) > 1e-4*(1+math.Abs(want)) {
							t.Fatalf("cols %d rows %d mode %d: c[%d][%d] = %v, want %v", cols, rows, mode, i, j, got, want)
						}
					}
				}
			}
		}
	}
}

// TestDepthwiseFlat checks the flat AVX-512 depthwise kernel against
// float64 sums on planes whose rows are narrower than, equal to and wider
// than a vector, with 1, 4 and 9 taps, with and without the clamp (a NaN
// input stays NaN), on whole planes and on row counts whose last vector
// is cut short; nothing past the kept outputs is written.
func TestDepthwiseFlat(t *testing.T) {
	if !OK512 {
		t.Skip("no AVX-512")
	}
	r := rand.New(rand.NewSource(4))
	for _, sh := range []struct{ rows, ow, wq int }{{7, 7, 9}, {14, 14, 16}, {5, 28, 30}, {3, 56, 58}, {4, 16, 16}, {9, 3, 5}, {1, 1, 3}, {6, 13, 13}} {
		for _, ntaps := range []int{1, 4, 9} {
			for _, act := range []bool{false, true} {
				n := sh.rows * sh.wq
				offs := make([]int, ntaps)
				w := make([]float32, ntaps)
				maxOff := 0
				for i := range offs {
					offs[i] = r.Intn(2*sh.wq + 3)
					maxOff = max(maxOff, offs[i])
					w[i] = float32(r.NormFloat64())
				}
				base := make([]float32, maxOff+(n+15)/16*16)
				for i := range base {
					base[i] = float32(r.NormFloat64() * 3)
				}
				base[offs[0]] = float32(math.NaN()) // output 0 is NaN
				masks := DepthwiseFlatMasks(n, sh.ow, sh.wq)
				y := make([]float32, sh.rows*sh.ow+5)
				for i := range y {
					y[i] = 42
				}
				lo, hi := float32(-1), float32(2)
				DepthwiseFlat(y, n, sh.ow, sh.wq, w, offs, base, masks, 0.25, act, lo, hi)
				k := 0
				for p := 0; p < n; p++ {
					if p%sh.wq >= sh.ow {
						continue
					}
					want := 0.25
					for t, o := range offs {
						want += float64(w[t]) * float64(base[o+p])
					}
					if act && !math.IsNaN(want) {
						want = math.Min(math.Max(want, float64(lo)), float64(hi))
					}
					got := float64(y[k])
					if math.IsNaN(want) != math.IsNaN(got) || !math.IsNaN(want) && math.Abs(got-want) > 1e-5*(1+math.Abs(want)) {
						t.Fatalf("%+v taps %d act %v: y[%d] (position %d) = %v, want %v", sh, ntaps, act, k, p, got, want)
					}
					k++
				}
				for i := k; i < len(y); i++ {
					if y[i] != 42 {
						t.Fatalf("%+v taps %d: y[%d] past the %d outputs written", sh, ntaps, i, k)
					}
				}
			}
		}
	}
}

// TestDepthwisePlane checks the AVX2 row-by-row depthwise kernel (used
// for wide rows, and for all rows on CPUs without AVX-512) against
// float64 sums on rows narrower than, equal to and wider than its vectors,
// with and without the clamp; nothing past the outputs is written.
func TestDepthwisePlane(t *testing.T) {
	if !OK {
		t.Skip("no AVX2/FMA")
	}
	r := rand.New(rand.NewSource(5))
	for _, sh := range []struct{ rows, ow, wq int }{{7, 7, 9}, {14, 14, 16}, {5, 28, 30}, {3, 56, 58}, {2, 112, 114}, {9, 3, 5}, {1, 1, 3}, {6, 13, 13}} {
		for _, ntaps := range []int{1, 9} {
			for _, act := range []bool{false, true} {
				offs := make([]int, ntaps)
				w := make([]float32, ntaps)
				maxOff := 0
				for i := range offs {
					offs[i] = r.Intn(2*sh.wq + 3)
					maxOff = max(maxOff, offs[i])
					w[i] = float32(r.NormFloat64())
				}
				base := make([]float32, maxOff+(sh.rows-1)*sh.wq+(sh.ow+7)&^7)
				for i := range base {
					base[i] = float32(r.NormFloat64() * 3)
				}
				y := make([]float32, sh.rows*sh.ow+5)
				for i := range y {
					y[i] = 42
				}
				lo, hi := float32(-1), float32(2)
				DepthwisePlane(y[:sh.rows*sh.ow], sh.rows, sh.ow, sh.wq, w, offs, base, 0.25, act, lo, hi)
				for row := 0; row < sh.rows; row++ {
					for i := 0; i < sh.ow; i++ {
						want := 0.25
						for t, o := range offs {
							want += float64(w[t]) * float64(base[o+row*sh.wq+i])
						}
						if act {
							want = math.Min(math.Max(want, float64(lo)), float64(hi))
						}
						if got := float64(y[row*sh.ow+i]); math.Abs(got-want) > 1e-5*(1+math.Abs(want)) {
							t.Fatalf("%+v taps %d act %v: y[%d][%d] = %v, want %v", sh, ntaps, act, row, i, got, want)
						}
					}
				}
				for i := sh.rows * sh.ow; i < len(y); i++ {
					if y[i] != 42 {
						t.Fatalf("%+v: y[%d] past the outputs written", sh, i)
					}
				}
			}
		}
	}
}
