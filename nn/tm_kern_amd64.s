//go:build amd64 && !purego

#include "textflag.h"

// func tmSumDotAVX2(x, dy *float32, n int, mu float64) (s, q float64)
//
// s = sum dy[i], q = sum dy[i]*(x[i]-mu) over i < n (n a positive
// multiple of 8), accumulated in float64.
TEXT ·tmSumDotAVX2(SB), NOSPLIT, $0-48
	MOVQ x+0(FP), SI
	MOVQ dy+8(FP), DI
	MOVQ n+16(FP), CX
	VBROADCASTSD mu+24(FP), Y8
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3

sdloop:
	VCVTPS2PD (DI), Y4
	VCVTPS2PD 16(DI), Y5
	VCVTPS2PD (SI), Y6
	VCVTPS2PD 16(SI), Y7
	VADDPD Y4, Y0, Y0
	VADDPD Y5, Y1, Y1
	VSUBPD Y8, Y6, Y6
	VSUBPD Y8, Y7, Y7
	VMULPD Y6, Y4, Y4
	VMULPD Y7, Y5, Y5
	VADDPD Y4, Y2, Y2
	VADDPD Y5, Y3, Y3
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JNZ sdloop

	VADDPD Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPD X1, X0, X0
	VUNPCKHPD X0, X0, X1
	VADDSD X1, X0, X0
	MOVSD X0, s+32(FP)
	VADDPD Y3, Y2, Y2
	VEXTRACTF128 $1, Y2, X3
	VADDPD X3, X2, X2
	VUNPCKHPD X2, X2, X3
	VADDSD X3, X2, X2
	MOVSD X2, q+40(FP)
	VZEROUPPER
	RET

// func tmAxpbycAVX2(dy, x, dx *float32, n int, a, b, m, c float32)
//
// dx[i] = (a*dy[i] + b*(x[i]-m)) + c for i < n (n a positive multiple of
// 8), each operation rounded to float32 (no fused multiply-add). dx may
// be dy.
TEXT ·tmAxpbycAVX2(SB), NOSPLIT, $0-48
	MOVQ dy+0(FP), SI
	MOVQ x+8(FP), DI
	MOVQ dx+16(FP), DX
	MOVQ n+24(FP), CX
	VBROADCASTSS a+32(FP), Y8
	VBROADCASTSS b+36(FP), Y9
	VBROADCASTSS m+40(FP), Y10
	VBROADCASTSS c+44(FP), Y11

axloop:
	VMOVUPS (DI), Y0
	VSUBPS Y10, Y0, Y0
	VMULPS Y9, Y0, Y0
	VMULPS (SI), Y8, Y1
	VADDPS Y0, Y1, Y1
	VADDPS Y11, Y1, Y1
	VMOVUPS Y1, (DX)
	ADDQ $32, SI
	ADDQ $32, DI
	ADDQ $32, DX
	SUBQ $8, CX
	JNZ axloop
	VZEROUPPER
	RET

// func tmScaleShiftAVX2(x, y *float32, n int, a, b float32)
//
// y[i] = x[i]*a + b for i < n (n a positive multiple of 8), rounded after
// each operation.
TEXT ·tmScaleShiftAVX2(SB), NOSPLIT, $0-32
	MOVQ x+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ n+16(FP), CX
	VBROADCASTSS a+24(FP), Y8
	VBROADCASTSS b+28(FP), Y9

ssloop:
	VMULPS (SI), Y8, Y0
	VADDPS Y9, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JNZ ssloop
	VZEROUPPER
	RET

// func tmSelectAVX2(y, dy, dx *float32, n int, p, q float32)
//
// dx[i] = dy[i] where p < y[i] < q, 0 elsewhere (NaN y: 0), for i < n (n a
// positive multiple of 8). dx may be dy.
TEXT ·tmSelectAVX2(SB), NOSPLIT, $0-40
	MOVQ y+0(FP), SI
	MOVQ dy+8(FP), DI
	MOVQ dx+16(FP), DX
	MOVQ n+24(FP), CX
	VBROADCASTSS p+32(FP), Y8
	VBROADCASTSS q+36(FP), Y9

selloop:
	VMOVUPS (SI), Y0
	VCMPPS $0x1E, Y8, Y0, Y1 // y > p (ordered)
	VCMPPS $0x11, Y9, Y0, Y2 // y < q (ordered)
	VANDPS Y2, Y1, Y1
	VANDPS (DI), Y1, Y1
	VMOVUPS Y1, (DX)
	ADDQ $32, SI
	ADDQ $32, DI
	ADDQ $32, DX
	SUBQ $8, CX
	JNZ selloop
	VZEROUPPER
	RET

// func tmSelectGtAVX2(y, dy, dx *float32, n int, p float32)
//
// dx[i] = dy[i] where y[i] > p, 0 elsewhere (NaN y: 0), for i < n (n a
// positive multiple of 8). dx may be dy.
TEXT ·tmSelectGtAVX2(SB), NOSPLIT, $0-36
	MOVQ y+0(FP), SI
	MOVQ dy+8(FP), DI
	MOVQ dx+16(FP), DX
	MOVQ n+24(FP), CX
	VBROADCASTSS p+32(FP), Y8

gtloop:
	VMOVUPS (SI), Y0
	VCMPPS $0x1E, Y8, Y0, Y1 // y > p (ordered)
	VANDPS (DI), Y1, Y1
	VMOVUPS Y1, (DX)
	ADDQ $32, SI
	ADDQ $32, DI
	ADDQ $32, DX
	SUBQ $8, CX
	JNZ gtloop
	VZEROUPPER
	RET
