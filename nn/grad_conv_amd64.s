//go:build amd64 && !purego

#include "textflag.h"

// func cvgDotsAVX2(a *float32, n int, base *float32, offs *int, nt int, out *float32)
//
// out[t] += sum_{i<n} a[i]*base[offs[t]+i] for t < nt (n a positive
// multiple of 8, nt positive).
TEXT ·cvgDotsAVX2(SB), NOSPLIT, $0-48
	MOVQ a+0(FP), SI
	MOVQ n+8(FP), CX
	MOVQ base+16(FP), DX
	MOVQ offs+24(FP), R8
	MOVQ nt+32(FP), R9
	MOVQ out+40(FP), R10

tap:
	MOVQ (R8), AX
	LEAQ (DX)(AX*4), DI
	MOVQ SI, R11
	MOVQ CX, BX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

loop32:
	CMPQ BX, $32
	JLT  loop8
	VMOVUPS (R11), Y4
	VMOVUPS 32(R11), Y5
	VMOVUPS 64(R11), Y6
	VMOVUPS 96(R11), Y7
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ $128, R11
	ADDQ $128, DI
	SUBQ $32, BX
	JMP  loop32

loop8:
	CMPQ BX, $0
	JEQ  reduce
	VMOVUPS (R11), Y4
	VFMADD231PS (DI), Y4, Y0
	ADDQ $32, R11
	ADDQ $32, DI
	SUBQ $8, BX
	JMP  loop8

reduce:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	VADDSS (R10), X0, X0
	VMOVSS X0, (R10)
	ADDQ $8, R8
	ADDQ $4, R10
	DECQ R9
	JNZ  tap
	VZEROUPPER
	RET
