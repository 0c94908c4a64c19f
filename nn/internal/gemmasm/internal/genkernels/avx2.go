package main

import (
	"bytes"
	"fmt"
)

// avx2 writes the AVX2/FMA 6×16 micro-kernels: kernel6x16 (B packed,
// C += A·B) and, with offs, kernel6x16Offs (B rows read through offsets,
// optional bias and load). They share the accumulator set-up, the inner
// step and the stores.
func avx2(b *bytes.Buffer, offs bool) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	loop := "loop"
	if offs {
		loop = "oloop"
		p(`
// func kernel6x16Offs(kc int, a, base *float32, offs *int, c *float32, ldc int, bias *float32, load int)
//
// kernel6x16 with an unpacked B: row p of the 16-column B panel is read
// from base[offs[p] : offs[p]+16] (offs in elements). The 6×16 result is
// added to bias[i] (row i) when bias is not nil, and to the old C when load
// is not zero; otherwise C is overwritten. kc must be at least 1.
TEXT ·kernel6x16Offs(SB), NOSPLIT, $0-64
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ base+16(FP), DI
	MOVQ offs+24(FP), BX
	MOVQ c+32(FP), DX
	MOVQ ldc+40(FP), R8
	MOVQ bias+48(FP), R10
	MOVQ load+56(FP), R11
	SHLQ $2, R8
`)
	} else {
		p(`
// func gemmKernel6x16(kc int, a, b, c *float32, ldc int)
//
// C[6x16] += Apanel * Bpanel, where Apanel holds kc groups of 6 values
// (one per row) and Bpanel kc groups of 16 values (one per column); C is
// row-major with a row stride of ldc elements. kc must be at least 1.
TEXT ·kernel6x16(SB), NOSPLIT, $0-40
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	SHLQ $2, R8
`)
	}
	p("\n")
	for r := 4; r < 16; r++ {
		p("\tVXORPS Y%d, Y%d, Y%d\n", r, r, r)
	}
	p("\n%s:\n", loop)
	if offs {
		p("\tMOVQ (BX), R9\n\tVMOVUPS (DI)(R9*4), Y0\n\tVMOVUPS 32(DI)(R9*4), Y1\n")
	} else {
		p("\tVMOVUPS (DI), Y0\n\tVMOVUPS 32(DI), Y1\n")
	}
	for i := 0; i < 6; i += 2 {
		p("\tVBROADCASTSS %s(SI), Y2\n\tVBROADCASTSS %d(SI), Y3\n", disp(4*i), 4*i+4)
		p("\tVFMADD231PS Y0, Y2, Y%d\n\tVFMADD231PS Y1, Y2, Y%d\n", 4+2*i, 5+2*i)
		p("\tVFMADD231PS Y0, Y3, Y%d\n\tVFMADD231PS Y1, Y3, Y%d\n", 6+2*i, 7+2*i)
	}
	if offs {
		p("\tADDQ $24, SI\n\tADDQ $8, BX\n")
	} else {
		p("\tADDQ $24, SI\n\tADDQ $64, DI\n")
	}
	p("\tDECQ CX\n\tJNZ  %s\n\n", loop)
	if !offs {
		// C += A·B: load and store each row in turn.
		for i := 0; i < 6; i++ {
			if i > 0 {
				p("\tADDQ R8, DX\n")
			}
			p("\tVADDPS (DX), Y%d, Y%d\n\tVADDPS 32(DX), Y%d, Y%d\n", 4+2*i, 4+2*i, 5+2*i, 5+2*i)
			p("\tVMOVUPS Y%d, (DX)\n\tVMOVUPS Y%d, 32(DX)\n", 4+2*i, 5+2*i)
		}
		p("\tVZEROUPPER\n\tRET\n")
		return
	}
	p("\tTESTQ R10, R10\n\tJZ    nobias\n")
	for i := 0; i < 6; i += 4 {
		n := min(4, 6-i)
		for j := 0; j < n; j++ {
			p("\tVBROADCASTSS %s(R10), Y%d\n", disp(4*(i+j)), j)
		}
		for j := 0; j < n; j++ {
			p("\tVADDPS Y%d, Y%d, Y%d\n\tVADDPS Y%d, Y%d, Y%d\n", j, 4+2*(i+j), 4+2*(i+j), j, 5+2*(i+j), 5+2*(i+j))
		}
	}
	p("\nnobias:\n\tTESTQ R11, R11\n\tJZ    store\n\tMOVQ  DX, R12\n")
	for i := 0; i < 6; i++ {
		if i > 0 {
			p("\tADDQ  R8, R12\n")
		}
		p("\tVADDPS (R12), Y%d, Y%d\n\tVADDPS 32(R12), Y%d, Y%d\n", 4+2*i, 4+2*i, 5+2*i, 5+2*i)
	}
	p("\nstore:\n")
	for i := 0; i < 6; i++ {
		if i > 0 {
			p("\tADDQ R8, DX\n")
		}
		p("\tVMOVUPS Y%d, (DX)\n\tVMOVUPS Y%d, 32(DX)\n", 4+2*i, 5+2*i)
	}
	p("\tVZEROUPPER\n\tRET\n")
}

// disp formats a memory displacement as the hand-written kernels did: none
// for 0.
func disp(d int) string {
	if d == 0 {
		return ""
	}
	return fmt.Sprint(d)
}
