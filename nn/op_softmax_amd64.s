//go:build amd64 && !purego

#include "textflag.h"

// Eight copies of -87.0 (the clamp keeping e^d a normal float32).
DATA smClamp<>+0(SB)/4, $0xc2ae0000
DATA smClamp<>+4(SB)/4, $0xc2ae0000
DATA smClamp<>+8(SB)/4, $0xc2ae0000
DATA smClamp<>+12(SB)/4, $0xc2ae0000
DATA smClamp<>+16(SB)/4, $0xc2ae0000
DATA smClamp<>+20(SB)/4, $0xc2ae0000
DATA smClamp<>+24(SB)/4, $0xc2ae0000
DATA smClamp<>+28(SB)/4, $0xc2ae0000
GLOBL smClamp<>(SB), RODATA|NOPTR, $32

// func smCPUID(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)
TEXT ·smCPUID(SB), NOSPLIT, $0-24
	MOVL eaxArg+0(FP), AX
	MOVL ecxArg+4(FP), CX
	CPUID
	MOVL AX, eax+8(FP)
	MOVL BX, ebx+12(FP)
	MOVL CX, ecx+16(FP)
	MOVL DX, edx+20(FP)
	RET

// func smXgetbv() (eax, edx uint32)
TEXT ·smXgetbv(SB), NOSPLIT, $0-8
	MOVL $0, CX
	XGETBV
	MOVL AX, eax+0(FP)
	MOVL DX, edx+4(FP)
	RET

// func smExpSubAVX2(x, y *float32, n int, m float32) float64
//
// y[i] = e^(x[i]-m) for i < n (n a positive multiple of 8), returning the
// sum of the y[i] accumulated in float64. m must be finite and x[i] <= m.
// e^r on |r| <= ln2/2 uses the degree-7 Taylor polynomial.
TEXT ·smExpSubAVX2(SB), NOSPLIT, $0-40
	MOVQ x+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ n+16(FP), CX
	VBROADCASTSS m+24(FP), Y15

	MOVL $0x3fb8aa3b, AX // log2(e)
	MOVQ AX, X0
	VBROADCASTSS X0, Y13
	MOVL $0x3f318000, AX // ln2 high part
	MOVQ AX, X0
	VBROADCASTSS X0, Y12
	MOVL $0xb95e8083, AX // ln2 low part
	MOVQ AX, X0
	VBROADCASTSS X0, Y11
	MOVL $0x39500d01, AX // 1/5040
	MOVQ AX, X0
	VBROADCASTSS X0, Y14
	MOVL $0x3ab60b61, AX // 1/720
	MOVQ AX, X0
	VBROADCASTSS X0, Y10
	MOVL $0x3c088889, AX // 1/120
	MOVQ AX, X0
	VBROADCASTSS X0, Y9
	MOVL $0x3d2aaaab, AX // 1/24
	MOVQ AX, X0
	VBROADCASTSS X0, Y8
	MOVL $0x3e2aaaab, AX // 1/6
	MOVQ AX, X0
	VBROADCASTSS X0, Y7
	MOVL $0x3f000000, AX // 1/2
	MOVQ AX, X0
	VBROADCASTSS X0, Y6
	MOVL $0x3f800000, AX // 1
	MOVQ AX, X0
	VBROADCASTSS X0, Y5
	MOVL $127, AX
	MOVQ AX, X0
	VPBROADCASTD X0, Y4
	VXORPD Y3, Y3, Y3

loop:
	VMOVUPS (SI), Y0
	VSUBPS Y15, Y0, Y0
	VMAXPS smClamp<>(SB), Y0, Y0
	VMULPS Y13, Y0, Y1
	VROUNDPS $0, Y1, Y1
	VFNMADD231PS Y12, Y1, Y0
	VFNMADD231PS Y11, Y1, Y0
	VMOVAPS Y14, Y2
	VFMADD213PS Y10, Y0, Y2
	VFMADD213PS Y9, Y0, Y2
	VFMADD213PS Y8, Y0, Y2
	VFMADD213PS Y7, Y0, Y2
	VFMADD213PS Y6, Y0, Y2
	VFMADD213PS Y5, Y0, Y2
	VFMADD213PS Y5, Y0, Y2
	VCVTPS2DQ Y1, Y1
	VPADDD Y4, Y1, Y1
	VPSLLD $23, Y1, Y1
	VMULPS Y1, Y2, Y2
	VMOVUPS Y2, (DI)
	VCVTPS2PD X2, Y0
	VADDPD Y0, Y3, Y3
	VEXTRACTF128 $1, Y2, X2
	VCVTPS2PD X2, Y0
	VADDPD Y0, Y3, Y3
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JNZ loop

	VEXTRACTF128 $1, Y3, X0
	VADDPD X0, X3, X3
	VUNPCKHPD X3, X3, X0
	VADDSD X0, X3, X3
	VZEROUPPER
	MOVSD X3, ret+32(FP)
	RET

// func smMaxAVX2(x *float32, n int) (m float32, nan uint32)
//
// The maximum of x[0:n] (n a positive multiple of 8); nan is nonzero when
// x holds a NaN.
TEXT ·smMaxAVX2(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VMOVUPS (SI), Y2
	VXORPS Y7, Y7, Y7

maxloop:
	VMOVUPS (SI), Y0
	VMAXPS Y0, Y2, Y2
	VCMPPS $3, Y0, Y0, Y1
	VORPS Y1, Y7, Y7
	ADDQ $32, SI
	SUBQ $8, CX
	JNZ maxloop

	VEXTRACTF128 $1, Y2, X3
	VMAXPS X3, X2, X2
	VPERMILPS $0x4e, X2, X3
	VMAXPS X3, X2, X2
	VPERMILPS $0xb1, X2, X3
	VMAXPS X3, X2, X2
	VMOVMSKPS Y7, AX
	VZEROUPPER
	MOVSS X2, m+16(FP)
	MOVL AX, nan+20(FP)
	RET

// func smScaleAVX2(y *float32, n int, r float32)
//
// y[i] *= r for i < n (n a positive multiple of 8).
TEXT ·smScaleAVX2(SB), NOSPLIT, $0-20
	MOVQ y+0(FP), DI
	MOVQ n+8(FP), CX
	VBROADCASTSS r+16(FP), Y1

scaleloop:
	VMULPS (DI), Y1, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	SUBQ $8, CX
	JNZ scaleloop
	VZEROUPPER
	RET
