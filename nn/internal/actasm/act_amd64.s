//go:build amd64 && !purego

#include "textflag.h"

// func clampAVX2(d, x *float32, n int, lo, hi float32)
// n is a positive multiple of 8. VMAXPS/VMINPS return their second source
// operand (x here) when either is NaN, so NaN passes through.
TEXT ·clampAVX2(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS lo+24(FP), Y14
	VBROADCASTSS hi+28(FP), Y15

wide:
	CMPQ CX, $32
	JL   narrow
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VMAXPS  Y0, Y14, Y0
	VMAXPS  Y1, Y14, Y1
	VMAXPS  Y2, Y14, Y2
	VMAXPS  Y3, Y14, Y3
	VMINPS  Y0, Y15, Y0
	VMINPS  Y1, Y15, Y1
	VMINPS  Y2, Y15, Y2
	VMINPS  Y3, Y15, Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ    $128, SI
	ADDQ    $128, DI
	SUBQ    $32, CX
	JMP     wide

narrow:
	CMPQ CX, $8
	JL   done
	VMOVUPS (SI), Y0
	VMAXPS  Y0, Y14, Y0
	VMINPS  Y0, Y15, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     narrow

done:
	VZEROUPPER
	RET

// Sigmoid constants, eight copies each: sign bit, -87, log2(e), ln2 split
// in a high part (trailing zero bits) and the rest, the Taylor
// coefficients 1/7! .. 1/2!, 1.0 and the exponent bias 127.
DATA sigC<>+0(SB)/4, $0x80000000
DATA sigC<>+4(SB)/4, $0x80000000
DATA sigC<>+8(SB)/4, $0x80000000
DATA sigC<>+12(SB)/4, $0x80000000
DATA sigC<>+16(SB)/4, $0x80000000
DATA sigC<>+20(SB)/4, $0x80000000
DATA sigC<>+24(SB)/4, $0x80000000
DATA sigC<>+28(SB)/4, $0x80000000
DATA sigC<>+32(SB)/4, $0xc2ae0000
DATA sigC<>+36(SB)/4, $0xc2ae0000
DATA sigC<>+40(SB)/4, $0xc2ae0000
DATA sigC<>+44(SB)/4, $0xc2ae0000
DATA sigC<>+48(SB)/4, $0xc2ae0000
DATA sigC<>+52(SB)/4, $0xc2ae0000
DATA sigC<>+56(SB)/4, $0xc2ae0000
DATA sigC<>+60(SB)/4, $0xc2ae0000
DATA sigC<>+64(SB)/4, $0x3fb8aa3b
DATA sigC<>+68(SB)/4, $0x3fb8aa3b
DATA sigC<>+72(SB)/4, $0x3fb8aa3b
DATA sigC<>+76(SB)/4, $0x3fb8aa3b
DATA sigC<>+80(SB)/4, $0x3fb8aa3b
DATA sigC<>+84(SB)/4, $0x3fb8aa3b
DATA sigC<>+88(SB)/4, $0x3fb8aa3b
DATA sigC<>+92(SB)/4, $0x3fb8aa3b
DATA sigC<>+96(SB)/4, $0x3f317200
DATA sigC<>+100(SB)/4, $0x3f317200
DATA sigC<>+104(SB)/4, $0x3f317200
DATA sigC<>+108(SB)/4, $0x3f317200
DATA sigC<>+112(SB)/4, $0x3f317200
DATA sigC<>+116(SB)/4, $0x3f317200
DATA sigC<>+120(SB)/4, $0x3f317200
DATA sigC<>+124(SB)/4, $0x3f317200
DATA sigC<>+128(SB)/4, $0x35bfbe8e
DATA sigC<>+132(SB)/4, $0x35bfbe8e
DATA sigC<>+136(SB)/4, $0x35bfbe8e
DATA sigC<>+140(SB)/4, $0x35bfbe8e
DATA sigC<>+144(SB)/4, $0x35bfbe8e
DATA sigC<>+148(SB)/4, $0x35bfbe8e
DATA sigC<>+152(SB)/4, $0x35bfbe8e
DATA sigC<>+156(SB)/4, $0x35bfbe8e
DATA sigC<>+160(SB)/4, $0x39500d01
DATA sigC<>+164(SB)/4, $0x39500d01
DATA sigC<>+168(SB)/4, $0x39500d01
DATA sigC<>+172(SB)/4, $0x39500d01
DATA sigC<>+176(SB)/4, $0x39500d01
DATA sigC<>+180(SB)/4, $0x39500d01
DATA sigC<>+184(SB)/4, $0x39500d01
DATA sigC<>+188(SB)/4, $0x39500d01
DATA sigC<>+192(SB)/4, $0x3ab60b61
DATA sigC<>+196(SB)/4, $0x3ab60b61
DATA sigC<>+200(SB)/4, $0x3ab60b61
DATA sigC<>+204(SB)/4, $0x3ab60b61
DATA sigC<>+208(SB)/4, $0x3ab60b61
DATA sigC<>+212(SB)/4, $0x3ab60b61
DATA sigC<>+216(SB)/4, $0x3ab60b61
DATA sigC<>+220(SB)/4, $0x3ab60b61
DATA sigC<>+224(SB)/4, $0x3c088889
DATA sigC<>+228(SB)/4, $0x3c088889
DATA sigC<>+232(SB)/4, $0x3c088889
DATA sigC<>+236(SB)/4, $0x3c088889
DATA sigC<>+240(SB)/4, $0x3c088889
DATA sigC<>+244(SB)/4, $0x3c088889
DATA sigC<>+248(SB)/4, $0x3c088889
DATA sigC<>+252(SB)/4, $0x3c088889
DATA sigC<>+256(SB)/4, $0x3d2aaaab
DATA sigC<>+260(SB)/4, $0x3d2aaaab
DATA sigC<>+264(SB)/4, $0x3d2aaaab
DATA sigC<>+268(SB)/4, $0x3d2aaaab
DATA sigC<>+272(SB)/4, $0x3d2aaaab
DATA sigC<>+276(SB)/4, $0x3d2aaaab
DATA sigC<>+280(SB)/4, $0x3d2aaaab
DATA sigC<>+284(SB)/4, $0x3d2aaaab
DATA sigC<>+288(SB)/4, $0x3e2aaaab
DATA sigC<>+292(SB)/4, $0x3e2aaaab
DATA sigC<>+296(SB)/4, $0x3e2aaaab
DATA sigC<>+300(SB)/4, $0x3e2aaaab
DATA sigC<>+304(SB)/4, $0x3e2aaaab
DATA sigC<>+308(SB)/4, $0x3e2aaaab
DATA sigC<>+312(SB)/4, $0x3e2aaaab
DATA sigC<>+316(SB)/4, $0x3e2aaaab
DATA sigC<>+320(SB)/4, $0x3f000000
DATA sigC<>+324(SB)/4, $0x3f000000
DATA sigC<>+328(SB)/4, $0x3f000000
DATA sigC<>+332(SB)/4, $0x3f000000
DATA sigC<>+336(SB)/4, $0x3f000000
DATA sigC<>+340(SB)/4, $0x3f000000
DATA sigC<>+344(SB)/4, $0x3f000000
DATA sigC<>+348(SB)/4, $0x3f000000
DATA sigC<>+352(SB)/4, $0x3f800000
DATA sigC<>+356(SB)/4, $0x3f800000
DATA sigC<>+360(SB)/4, $0x3f800000
DATA sigC<>+364(SB)/4, $0x3f800000
DATA sigC<>+368(SB)/4, $0x3f800000
DATA sigC<>+372(SB)/4, $0x3f800000
DATA sigC<>+376(SB)/4, $0x3f800000
DATA sigC<>+380(SB)/4, $0x3f800000
DATA sigC<>+384(SB)/4, $0x0000007f
DATA sigC<>+388(SB)/4, $0x0000007f
DATA sigC<>+392(SB)/4, $0x0000007f
DATA sigC<>+396(SB)/4, $0x0000007f
DATA sigC<>+400(SB)/4, $0x0000007f
DATA sigC<>+404(SB)/4, $0x0000007f
DATA sigC<>+408(SB)/4, $0x0000007f
DATA sigC<>+412(SB)/4, $0x0000007f
GLOBL sigC<>(SB), RODATA|NOPTR, $416

// func sigmoidAVX2(d, x *float32, n int) int
//
// d[i] = 1/(1+e^-x[i]) for i < n (n a multiple of 8), eight lanes at a
// time, with e = e^-|x| (so neither tail cancels): s = 1/(1+e), and e*s for
// negative x. It stops before the first block of eight holding a NaN or an
// |x| > 87 (e would leave the normal range) and returns how many elements
// it did; the caller finishes that block with the scalar kernel.
// e^a = 2^k * e^r with k = round(a*log2(e)), |r| <= ln2/2, and e^r from its
// degree-7 Taylor polynomial.
TEXT ·sigmoidAVX2(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	XORQ BX, BX
	VMOVUPS sigC<>+0(SB), Y15
	VMOVUPS sigC<>+32(SB), Y14
	VMOVUPS sigC<>+64(SB), Y13
	VMOVUPS sigC<>+96(SB), Y12
	VMOVUPS sigC<>+128(SB), Y11
	VMOVUPS sigC<>+352(SB), Y10
	VMOVUPS sigC<>+384(SB), Y9

sigloop:
	CMPQ BX, CX
	JGE  sigdone
	VMOVUPS (SI)(BX*4), Y0
	VORPS   Y15, Y0, Y1          // a = -|x|
	VCMPPS  $0x1d, Y14, Y1, Y2   // a >= -87, false for NaN
	VMOVMSKPS Y2, AX
	CMPL    AX, $0xff
	JNE     sigdone
	VMULPS  Y13, Y1, Y2
	VROUNDPS $0, Y2, Y2          // k
	VFNMADD231PS Y12, Y2, Y1     // r = a - k*ln2hi
	VFNMADD231PS Y11, Y2, Y1     //     - k*ln2lo
	VMOVUPS sigC<>+160(SB), Y3
	VFMADD213PS sigC<>+192(SB), Y1, Y3
	VFMADD213PS sigC<>+224(SB), Y1, Y3
	VFMADD213PS sigC<>+256(SB), Y1, Y3
	VFMADD213PS sigC<>+288(SB), Y1, Y3
	VFMADD213PS sigC<>+320(SB), Y1, Y3
	VFMADD213PS Y10, Y1, Y3
	VFMADD213PS Y10, Y1, Y3      // e^r
	VCVTPS2DQ Y2, Y2
	VPADDD  Y9, Y2, Y2
	VPSLLD  $23, Y2, Y2          // 2^k
	VMULPS  Y2, Y3, Y3           // e = e^-|x|
	VADDPS  Y10, Y3, Y4
	VDIVPS  Y4, Y10, Y5          // s = 1/(1+e)
	VMULPS  Y5, Y3, Y6           // e*s
	VBLENDVPS Y0, Y6, Y5, Y7     // x < 0 ? e*s : s
	VMOVUPS Y7, (DI)(BX*4)
	ADDQ    $8, BX
	JMP     sigloop

sigdone:
	VZEROUPPER
	MOVQ BX, ret+24(FP)
	RET

// ARITHVV(OP) runs d[i] = a[i] OP b[i] over CX values (a positive multiple
// of 8) from SI (a) and DX (b) to DI, 32 values per step while it can.
#define ARITHVV(OP, L1, L2, DONE) \
L1: \
	CMPQ CX, $32 \
	JL   L2 \
	VMOVUPS (SI), Y0 \
	VMOVUPS 32(SI), Y1 \
	VMOVUPS 64(SI), Y2 \
	VMOVUPS 96(SI), Y3 \
	OP (DX), Y0, Y0 \
	OP 32(DX), Y1, Y1 \
	OP 64(DX), Y2, Y2 \
	OP 96(DX), Y3, Y3 \
	VMOVUPS Y0, (DI) \
	VMOVUPS Y1, 32(DI) \
	VMOVUPS Y2, 64(DI) \
	VMOVUPS Y3, 96(DI) \
	ADDQ $128, SI \
	ADDQ $128, DX \
	ADDQ $128, DI \
	SUBQ $32, CX \
	JMP  L1 \
L2: \
	CMPQ CX, $8 \
	JL   DONE \
	VMOVUPS (SI), Y0 \
	OP (DX), Y0, Y0 \
	VMOVUPS Y0, (DI) \
	ADDQ $32, SI \
	ADDQ $32, DX \
	ADDQ $32, DI \
	SUBQ $8, CX \
	JMP  L2

// ARITHVS(OP) runs d[i] = a[i] OP s over CX values from SI (a) to DI, s
// broadcast in Y15.
#define ARITHVS(OP, L1, L2, DONE) \
L1: \
	CMPQ CX, $32 \
	JL   L2 \
	VMOVUPS (SI), Y0 \
	VMOVUPS 32(SI), Y1 \
	VMOVUPS 64(SI), Y2 \
	VMOVUPS 96(SI), Y3 \
	OP Y15, Y0, Y0 \
	OP Y15, Y1, Y1 \
	OP Y15, Y2, Y2 \
	OP Y15, Y3, Y3 \
	VMOVUPS Y0, (DI) \
	VMOVUPS Y1, 32(DI) \
	VMOVUPS Y2, 64(DI) \
	VMOVUPS Y3, 96(DI) \
	ADDQ $128, SI \
	ADDQ $128, DI \
	SUBQ $32, CX \
	JMP  L1 \
L2: \
	CMPQ CX, $8 \
	JL   DONE \
	VMOVUPS (SI), Y0 \
	OP Y15, Y0, Y0 \
	VMOVUPS Y0, (DI) \
	ADDQ $32, SI \
	ADDQ $32, DI \
	SUBQ $8, CX \
	JMP  L2

// func arithVVAVX2(op int, d, a, b *float32, n int)
// d[i] = a[i] op b[i] for n a positive multiple of 8; op 0 add, 1 sub,
// 2 mul, 3 div.
TEXT ·arithVVAVX2(SB), NOSPLIT, $0-40
	MOVQ op+0(FP), AX
	MOVQ d+8(FP), DI
	MOVQ a+16(FP), SI
	MOVQ b+24(FP), DX
	MOVQ n+32(FP), CX
	CMPQ AX, $0
	JEQ  vvadd
	CMPQ AX, $1
	JEQ  vvsub
	CMPQ AX, $2
	JEQ  vvmul
	JMP  vvdiv
vvadd:
	ARITHVV(VADDPS, vvadd1, vvadd2, vvdone)
vvsub:
	ARITHVV(VSUBPS, vvsub1, vvsub2, vvdone)
vvmul:
	ARITHVV(VMULPS, vvmul1, vvmul2, vvdone)
vvdiv:
	ARITHVV(VDIVPS, vvdiv1, vvdiv2, vvdone)
vvdone:
	VZEROUPPER
	RET

// func arithVSAVX2(op int, d, a *float32, s float32, n int)
// d[i] = a[i] op s for n a positive multiple of 8; ops as arithVVAVX2.
TEXT ·arithVSAVX2(SB), NOSPLIT, $0-40
	MOVQ op+0(FP), AX
	MOVQ d+8(FP), DI
	MOVQ a+16(FP), SI
	VBROADCASTSS s+24(FP), Y15
	MOVQ n+32(FP), CX
	CMPQ AX, $0
	JEQ  vsadd
	CMPQ AX, $1
	JEQ  vssub
	CMPQ AX, $2
	JEQ  vsmul
	JMP  vsdiv
vsadd:
	ARITHVS(VADDPS, vsadd1, vsadd2, vsdone)
vssub:
	ARITHVS(VSUBPS, vssub1, vssub2, vsdone)
vsmul:
	ARITHVS(VMULPS, vsmul1, vsmul2, vsdone)
vsdiv:
	ARITHVS(VDIVPS, vsdiv1, vsdiv2, vsdone)
vsdone:
	VZEROUPPER
	RET
