//go:build amd64 && !purego

#include "textflag.h"

// func gemmCPUID(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)
TEXT ·cpuid(SB), NOSPLIT, $0-24
	MOVL eaxArg+0(FP), AX
	MOVL ecxArg+4(FP), CX
	CPUID
	MOVL AX, eax+8(FP)
	MOVL BX, ebx+12(FP)
	MOVL CX, ecx+16(FP)
	MOVL DX, edx+20(FP)
	RET

// func gemmXgetbv() (eax, edx uint32)
TEXT ·xgetbv(SB), NOSPLIT, $0-8
	MOVL $0, CX
	XGETBV
	MOVL AX, eax+0(FP)
	MOVL DX, edx+4(FP)
	RET

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

	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	VXORPS Y12, Y12, Y12
	VXORPS Y13, Y13, Y13
	VXORPS Y14, Y14, Y14
	VXORPS Y15, Y15, Y15

loop:
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VBROADCASTSS (SI), Y2
	VBROADCASTSS 4(SI), Y3
	VFMADD231PS Y0, Y2, Y4
	VFMADD231PS Y1, Y2, Y5
	VFMADD231PS Y0, Y3, Y6
	VFMADD231PS Y1, Y3, Y7
	VBROADCASTSS 8(SI), Y2
	VBROADCASTSS 12(SI), Y3
	VFMADD231PS Y0, Y2, Y8
	VFMADD231PS Y1, Y2, Y9
	VFMADD231PS Y0, Y3, Y10
	VFMADD231PS Y1, Y3, Y11
	VBROADCASTSS 16(SI), Y2
	VBROADCASTSS 20(SI), Y3
	VFMADD231PS Y0, Y2, Y12
	VFMADD231PS Y1, Y2, Y13
	VFMADD231PS Y0, Y3, Y14
	VFMADD231PS Y1, Y3, Y15
	ADDQ $24, SI
	ADDQ $64, DI
	DECQ CX
	JNZ  loop

	VADDPS (DX), Y4, Y4
	VADDPS 32(DX), Y5, Y5
	VMOVUPS Y4, (DX)
	VMOVUPS Y5, 32(DX)
	ADDQ R8, DX
	VADDPS (DX), Y6, Y6
	VADDPS 32(DX), Y7, Y7
	VMOVUPS Y6, (DX)
	VMOVUPS Y7, 32(DX)
	ADDQ R8, DX
	VADDPS (DX), Y8, Y8
	VADDPS 32(DX), Y9, Y9
	VMOVUPS Y8, (DX)
	VMOVUPS Y9, 32(DX)
	ADDQ R8, DX
	VADDPS (DX), Y10, Y10
	VADDPS 32(DX), Y11, Y11
	VMOVUPS Y10, (DX)
	VMOVUPS Y11, 32(DX)
	ADDQ R8, DX
	VADDPS (DX), Y12, Y12
	VADDPS 32(DX), Y13, Y13
	VMOVUPS Y12, (DX)
	VMOVUPS Y13, 32(DX)
	ADDQ R8, DX
	VADDPS (DX), Y14, Y14
	VADDPS 32(DX), Y15, Y15
	VMOVUPS Y14, (DX)
	VMOVUPS Y15, 32(DX)
	VZEROUPPER
	RET

// func tapsF32(n, ntaps int, w *float32, offs *int, base, y *float32)
//
// For i in [0, n) with n a multiple of 8:
//   y[i] += sum over t < ntaps of w[t] * base[offs[t] + i].
// ntaps must be at least 1.
TEXT ·tapsF32(SB), NOSPLIT, $0-48
	MOVQ n+0(FP), CX
	MOVQ ntaps+8(FP), BX
	MOVQ w+16(FP), R10
	MOVQ offs+24(FP), R9
	MOVQ base+32(FP), SI
	MOVQ y+40(FP), DI

quad:
	CMPQ CX, $32
	JLT  single
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	MOVQ BX, R11
	MOVQ R9, R12
	MOVQ R10, R13

quadtap:
	MOVQ (R12), AX
	LEAQ (SI)(AX*4), DX
	VBROADCASTSS (R13), Y4
	VFMADD231PS (DX), Y4, Y0
	VFMADD231PS 32(DX), Y4, Y1
	VFMADD231PS 64(DX), Y4, Y2
	VFMADD231PS 96(DX), Y4, Y3
	ADDQ $8, R12
	ADDQ $4, R13
	DECQ R11
	JNZ  quadtap
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ $128, DI
	ADDQ $128, SI
	SUBQ $32, CX
	JMP  quad

single:
	CMPQ CX, $8
	JLT  done
	VMOVUPS (DI), Y0
	MOVQ BX, R11
	MOVQ R9, R12
	MOVQ R10, R13

singletap:
	MOVQ (R12), AX
	VBROADCASTSS (R13), Y4
	VFMADD231PS (SI)(AX*4), Y4, Y0
	ADDQ $8, R12
	ADDQ $4, R13
	DECQ R11
	JNZ  singletap
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	SUBQ $8, CX
	JMP  single

done:
	VZEROUPPER
	RET

// func tapsS2F32(n, ntaps int, w *float32, offs *int, base, y *float32)
//
// For i in [0, n) with n a multiple of 8:
//   y[i] += sum over t < ntaps of w[t] * base[offs[t] + 2*i].
// Reads base up to offs[t] + 2*n (one element past the last one used).
TEXT ·tapsS2F32(SB), NOSPLIT, $0-48
	MOVQ n+0(FP), CX
	MOVQ ntaps+8(FP), BX
	MOVQ w+16(FP), R10
	MOVQ offs+24(FP), R9
	MOVQ base+32(FP), SI
	MOVQ y+40(FP), DI

s2loop:
	CMPQ CX, $8
	JLT  s2done
	VMOVUPS (DI), Y0
	MOVQ BX, R11
	MOVQ R9, R12
	MOVQ R10, R13

s2tap:
	MOVQ (R12), AX
	LEAQ (SI)(AX*4), DX
	VMOVUPS (DX), Y5
	VMOVUPS 32(DX), Y6
	VSHUFPS $0x88, Y6, Y5, Y7
	VPERMPD $0xD8, Y7, Y7
	VBROADCASTSS (R13), Y4
	VFMADD231PS Y7, Y4, Y0
	ADDQ $8, R12
	ADDQ $4, R13
	DECQ R11
	JNZ  s2tap
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $64, SI
	SUBQ $8, CX
	JMP  s2loop

s2done:
	VZEROUPPER
	RET
