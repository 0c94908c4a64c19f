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

// func packB16(kb int, src *float32, ldb int, dst *float32)
//
// Copies kb rows of 16 floats, row p read from src[p*ldb:], into dst
// contiguously (dst[p*16+j] = src[p*ldb+j]). kb must be at least 1.
TEXT ·packB16(SB), NOSPLIT, $0-32
	MOVQ kb+0(FP), CX
	MOVQ src+8(FP), SI
	MOVQ ldb+16(FP), R8
	MOVQ dst+24(FP), DI
	SHLQ $2, R8
	LEAQ (R8)(R8*1), R9
	CMPQ CX, $2
	JLT  tail
	LEAQ (R8)(R8*2), R10
	SHLQ $2, R10
pair:
	PREFETCHT0 (SI)(R10*1)
	PREFETCHT0 (SI)(R10*2)
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS (SI)(R8*1), Y2
	VMOVUPS 32(SI)(R8*1), Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ R9, SI
	ADDQ $128, DI
	SUBQ $2, CX
	CMPQ CX, $2
	JGE  pair
tail:
	TESTQ CX, CX
	JZ   done
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
done:
	VZEROUPPER
	RET

DATA dwmask<>+0(SB)/4, $0xffffffff
DATA dwmask<>+4(SB)/4, $0xffffffff
DATA dwmask<>+8(SB)/4, $0xffffffff
DATA dwmask<>+12(SB)/4, $0xffffffff
DATA dwmask<>+16(SB)/4, $0xffffffff
DATA dwmask<>+20(SB)/4, $0xffffffff
DATA dwmask<>+24(SB)/4, $0xffffffff
DATA dwmask<>+28(SB)/4, $0xffffffff
DATA dwmask<>+32(SB)/4, $0
DATA dwmask<>+36(SB)/4, $0
DATA dwmask<>+40(SB)/4, $0
DATA dwmask<>+44(SB)/4, $0
DATA dwmask<>+48(SB)/4, $0
DATA dwmask<>+52(SB)/4, $0
DATA dwmask<>+56(SB)/4, $0
DATA dwmask<>+60(SB)/4, $0
GLOBL dwmask<>(SB), RODATA|NOPTR, $64

// func dwPlaneF32(rows, ow, wq, ntaps int, w *float32, offs *int, base, y *float32, bias, lo, hi float32, act, kmask int)
//
// For r in [0, rows) and i in [0, ow):
//   y[r*ow + i] = bias + sum over t < ntaps of w[t] * base[offs[t] + r*wq + i],
// clamped to [lo, hi] when act is not zero (NaN passes through). The last
// partial vector of each row reads up to 7 values past ow (base must hold
// them). It is stored whole, spilling into rows computed later, while more
// than kmask rows remain, and through a mask (slow on some CPUs) for the
// last kmask rows. rows, ow, ntaps >= 1.
TEXT ·dwPlaneF32(SB), NOSPLIT, $16-96
	MOVQ rows+0(FP), R8
	MOVQ ntaps+24(FP), BX
	MOVQ w+32(FP), R10
	MOVQ offs+40(FP), R9
	MOVQ base+48(FP), SI
	MOVQ y+56(FP), DI
	VBROADCASTSS bias+64(FP), Y5
	VBROADCASTSS lo+68(FP), Y6
	VBROADCASTSS hi+72(FP), Y7
	// Tail mask: lanes [0, ow%8) set.
	MOVQ ow+8(FP), DX
	ANDQ $7, DX
	MOVQ $8, AX
	SUBQ DX, AX
	LEAQ dwmask<>(SB), DX
	VMOVDQU (DX)(AX*4), Y8

prow:
	MOVQ SI, 0(SP)
	MOVQ DI, 8(SP)
	MOVQ ow+8(FP), CX

pquad:
	CMPQ CX, $32
	JLT  psingle
	VMOVAPS Y5, Y0
	VMOVAPS Y5, Y1
	VMOVAPS Y5, Y2
	VMOVAPS Y5, Y3
	MOVQ BX, R11
	MOVQ R9, R12
	MOVQ R10, R13

pquadtap:
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
	JNZ  pquadtap
	CMPQ act+80(FP), $0
	JEQ  pquadstore
	VMAXPS Y0, Y6, Y0
	VMAXPS Y1, Y6, Y1
	VMAXPS Y2, Y6, Y2
	VMAXPS Y3, Y6, Y3
	VMINPS Y0, Y7, Y0
	VMINPS Y1, Y7, Y1
	VMINPS Y2, Y7, Y2
	VMINPS Y3, Y7, Y3

pquadstore:
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ $128, DI
	ADDQ $128, SI
	SUBQ $32, CX
	JMP  pquad

psingle:
	CMPQ CX, $0
	JLE  pnext
	VMOVAPS Y5, Y0
	MOVQ BX, R11
	MOVQ R9, R12
	MOVQ R10, R13

psingletap:
	MOVQ (R12), AX
	VBROADCASTSS (R13), Y4
	VFMADD231PS (SI)(AX*4), Y4, Y0
	ADDQ $8, R12
	ADDQ $4, R13
	DECQ R11
	JNZ  psingletap
	CMPQ act+80(FP), $0
	JEQ  psinglestore
	VMAXPS Y0, Y6, Y0
	VMINPS Y0, Y7, Y0

psinglestore:
	CMPQ CX, $8
	JLT  ptail
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	SUBQ $8, CX
	JMP  psingle

ptail:
	CMPQ R8, kmask+88(FP)
	JLE  pmasked
	VMOVUPS Y0, (DI)
	JMP  pnext

pmasked:
	VMASKMOVPS Y0, Y8, (DI)

pnext:
	MOVQ 0(SP), SI
	MOVQ wq+16(FP), AX
	LEAQ (SI)(AX*4), SI
	MOVQ 8(SP), DI
	MOVQ ow+8(FP), AX
	LEAQ (DI)(AX*4), DI
	DECQ R8
	JNZ  prow
	VZEROUPPER
	RET

// func deint2F32(n int, src, even, odd *float32)
//
// For i in [0, n) with n a multiple of 8: even[i] = src[2i], odd[i] =
// src[2i+1].
TEXT ·deint2F32(SB), NOSPLIT, $0-32
	MOVQ n+0(FP), CX
	MOVQ src+8(FP), SI
	MOVQ even+16(FP), DI
	MOVQ odd+24(FP), DX

deintloop:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VSHUFPS $0x88, Y1, Y0, Y2
	VSHUFPS $0xdd, Y1, Y0, Y3
	VPERMPD $0xd8, Y2, Y2
	VPERMPD $0xd8, Y3, Y3
	VMOVUPS Y2, (DI)
	VMOVUPS Y3, (DX)
	ADDQ $64, SI
	ADDQ $32, DI
	ADDQ $32, DX
	SUBQ $8, CX
	JNZ  deintloop
	VZEROUPPER
	RET

// func sfence()
TEXT ·sfence(SB), NOSPLIT, $0-0
	SFENCE
	RET

// func packA6(kb int, src *float32, lda int, dst *float32)
//
// Packs 6 rows of kb values (row i at src[i*lda:]) into dst as kb groups
// of 6 (dst[p*6+i] = src[i*lda+p]) for kb a positive multiple of 8, eight
// columns at a time through an 8×8 transpose whose rows 6 and 7 are zero.
// Each group is stored as 8 values, the last 2 overwritten by the next
// group: dst needs 2 values of slack after kb*6.
TEXT ·packA6(SB), NOSPLIT, $0-32
	MOVQ kb+0(FP), CX
	MOVQ src+8(FP), SI
	MOVQ lda+16(FP), R8
	MOVQ dst+24(FP), DI
	SHLQ $2, R8
	LEAQ (SI)(R8*1), R9
	LEAQ (R9)(R8*1), R10
	LEAQ (R10)(R8*1), R11
	LEAQ (R11)(R8*1), R12
	LEAQ (R12)(R8*1), R13
	XORQ AX, AX
	VXORPS Y15, Y15, Y15

packloop:
	VMOVUPS (SI)(AX*1), Y0
	VMOVUPS (R9)(AX*1), Y1
	VMOVUPS (R10)(AX*1), Y2
	VMOVUPS (R11)(AX*1), Y3
	VMOVUPS (R12)(AX*1), Y4
	VMOVUPS (R13)(AX*1), Y5
	VUNPCKLPS Y1, Y0, Y6
	VUNPCKHPS Y1, Y0, Y7
	VUNPCKLPS Y3, Y2, Y8
	VUNPCKHPS Y3, Y2, Y9
	VUNPCKLPS Y5, Y4, Y10
	VUNPCKHPS Y5, Y4, Y11
	VSHUFPS $0x44, Y8, Y6, Y0
	VSHUFPS $0xee, Y8, Y6, Y1
	VSHUFPS $0x44, Y9, Y7, Y2
	VSHUFPS $0xee, Y9, Y7, Y3
	VSHUFPS $0x44, Y15, Y10, Y4
	VSHUFPS $0xee, Y15, Y10, Y5
	VSHUFPS $0x44, Y15, Y11, Y6
	VSHUFPS $0xee, Y15, Y11, Y7
	VPERM2F128 $0x20, Y4, Y0, Y8
	VPERM2F128 $0x20, Y5, Y1, Y9
	VPERM2F128 $0x20, Y6, Y2, Y10
	VPERM2F128 $0x20, Y7, Y3, Y11
	VPERM2F128 $0x31, Y4, Y0, Y12
	VPERM2F128 $0x31, Y5, Y1, Y13
	VPERM2F128 $0x31, Y6, Y2, Y14
	VPERM2F128 $0x31, Y7, Y3, Y0
	VMOVUPS Y8, (DI)
	VMOVUPS Y9, 24(DI)
	VMOVUPS Y10, 48(DI)
	VMOVUPS Y11, 72(DI)
	VMOVUPS Y12, 96(DI)
	VMOVUPS Y13, 120(DI)
	VMOVUPS Y14, 144(DI)
	VMOVUPS Y0, 168(DI)
	ADDQ $32, AX
	ADDQ $192, DI
	SUBQ $8, CX
	JNZ  packloop
	VZEROUPPER
	RET

// func dwFlat16(nvec, ntaps int, w *float32, offs *int, base, y *float32, masks *uint64, last uint64, bias, lo, hi float32, act int)
//
// AVX-512 depthwise plane over "wide" positions: for v < nvec,
//   acc = bias + sum over t < ntaps of w[t] * base[offs[t] + 16v : 16v+16],
// clamped to [lo, hi] when act (NaN passes through); the lanes set in the
// low 16 bits of masks[v] (of last for v = nvec-1) are compressed and
// stored at y, which then advances by their count (bits 32 and up; bits
// 16-31 hold the store mask of that many lanes). Four vectors go per step
// (four independent accumulator chains), then one at a time. nvec, ntaps
// >= 1.
TEXT ·dwFlat16(SB), NOSPLIT, $0-88
	MOVQ nvec+0(FP), CX
	MOVQ ntaps+8(FP), BX
	MOVQ w+16(FP), R10
	MOVQ offs+24(FP), R9
	MOVQ base+32(FP), SI
	MOVQ y+40(FP), DI
	MOVQ masks+48(FP), R8
	VBROADCASTSS bias+64(FP), Z5
	VBROADCASTSS lo+68(FP), Z6
	VBROADCASTSS hi+72(FP), Z7
	// The last vector uses last: run every other one first.
	DECQ CX

fquad:
	CMPQ CX, $4
	JLT  fsingle
	VMOVAPS Z5, Z0
	VMOVAPS Z5, Z1
	VMOVAPS Z5, Z2
	VMOVAPS Z5, Z3
	MOVQ BX, R11
	MOVQ R9, R12
	MOVQ R10, R13

fquadtap:
	MOVQ (R12), AX
	LEAQ (SI)(AX*4), DX
	VBROADCASTSS (R13), Z4
	VFMADD231PS (DX), Z4, Z0
	VFMADD231PS 64(DX), Z4, Z1
	VFMADD231PS 128(DX), Z4, Z2
	VFMADD231PS 192(DX), Z4, Z3
	ADDQ $8, R12
	ADDQ $4, R13
	DECQ R11
	JNZ  fquadtap
	CMPQ act+80(FP), $0
	JZ   fquadstore
	VMAXPS Z0, Z6, Z0
	VMAXPS Z1, Z6, Z1
	VMAXPS Z2, Z6, Z2
	VMAXPS Z3, Z6, Z3
	VMINPS Z0, Z7, Z0
	VMINPS Z1, Z7, Z1
	VMINPS Z2, Z7, Z2
	VMINPS Z3, Z7, Z3

fquadstore:
	MOVQ (R8), AX
	CMPW AX, $0xffff
	JNE  fq0mask
	VMOVUPS Z0, (DI)
	ADDQ $64, DI
	JMP  fq0done

fq0mask:
	KMOVW AX, K1
	SHRQ $16, AX
	KMOVW AX, K2
	SHRQ $16, AX
	VCOMPRESSPS Z0, K1, Z8
	VMOVUPS Z8, K2, (DI)
	LEAQ (DI)(AX*4), DI

fq0done:
	MOVQ 8(R8), AX
	CMPW AX, $0xffff
	JNE  fq1mask
	VMOVUPS Z1, (DI)
	ADDQ $64, DI
	JMP  fq1done

fq1mask:
	KMOVW AX, K1
	SHRQ $16, AX
	KMOVW AX, K2
	SHRQ $16, AX
	VCOMPRESSPS Z1, K1, Z8
	VMOVUPS Z8, K2, (DI)
	LEAQ (DI)(AX*4), DI

fq1done:
	MOVQ 16(R8), AX
	CMPW AX, $0xffff
	JNE  fq2mask
	VMOVUPS Z2, (DI)
	ADDQ $64, DI
	JMP  fq2done

fq2mask:
	KMOVW AX, K1
	SHRQ $16, AX
	KMOVW AX, K2
	SHRQ $16, AX
	VCOMPRESSPS Z2, K1, Z8
	VMOVUPS Z8, K2, (DI)
	LEAQ (DI)(AX*4), DI

fq2done:
	MOVQ 24(R8), AX
	CMPW AX, $0xffff
	JNE  fq3mask
	VMOVUPS Z3, (DI)
	ADDQ $64, DI
	JMP  fq3done

fq3mask:
	KMOVW AX, K1
	SHRQ $16, AX
	KMOVW AX, K2
	SHRQ $16, AX
	VCOMPRESSPS Z3, K1, Z8
	VMOVUPS Z8, K2, (DI)
	LEAQ (DI)(AX*4), DI

fq3done:
	ADDQ $32, R8
	ADDQ $256, SI
	SUBQ $4, CX
	JMP  fquad

fsingle:
	// CX vectors before the last remain (0 to 3); then the last one.
	INCQ CX

fone:
	VMOVAPS Z5, Z0
	MOVQ BX, R11
	MOVQ R9, R12
	MOVQ R10, R13

fonetap:
	MOVQ (R12), AX
	VBROADCASTSS (R13), Z4
	VFMADD231PS (SI)(AX*4), Z4, Z0
	ADDQ $8, R12
	ADDQ $4, R13
	DECQ R11
	JNZ  fonetap
	CMPQ act+80(FP), $0
	JZ   fonestore
	VMAXPS Z0, Z6, Z0
	VMINPS Z0, Z7, Z0

fonestore:
	MOVQ (R8), AX
	CMPQ CX, $1
	JNE  fonemask
	MOVQ last+56(FP), AX

fonemask:
	KMOVW AX, K1
	SHRQ $16, AX
	KMOVW AX, K2
	SHRQ $16, AX
	VCOMPRESSPS Z0, K1, Z8
	VMOVUPS Z8, K2, (DI)
	LEAQ (DI)(AX*4), DI
	ADDQ $8, R8
	ADDQ $64, SI
	DECQ CX
	JNZ  fone
	VZEROUPPER
	RET

// TR8x8 loads 8 rows of 8 values from (A), (A)(R8*1), (A)(R8*2),
// (A)(BX*1), (B), (B)(R8*1), (B)(R8*2), (B)(BX*1) (R8 = row stride in
// bytes, BX = 3·R8), transposes them in registers and stores the 8 columns
// at (D)+off, (D)(R14*1)+off, ... (R14 = destination stride in bytes,
// R11 = 3·R14), the last four through DX = D + 4·R14.
#define TR8x8(A, B, D, off) \
	VMOVUPS (A), Y0 \
	VMOVUPS (A)(R8*1), Y1 \
	VMOVUPS (A)(R8*2), Y2 \
	VMOVUPS (A)(BX*1), Y3 \
	VMOVUPS (B), Y4 \
	VMOVUPS (B)(R8*1), Y5 \
	VMOVUPS (B)(R8*2), Y6 \
	VMOVUPS (B)(BX*1), Y7 \
	VUNPCKLPS Y1, Y0, Y8 \
	VUNPCKHPS Y1, Y0, Y9 \
	VUNPCKLPS Y3, Y2, Y10 \
	VUNPCKHPS Y3, Y2, Y11 \
	VUNPCKLPS Y5, Y4, Y12 \
	VUNPCKHPS Y5, Y4, Y13 \
	VUNPCKLPS Y7, Y6, Y14 \
	VUNPCKHPS Y7, Y6, Y15 \
	VSHUFPS $0x44, Y10, Y8, Y0 \
	VSHUFPS $0xee, Y10, Y8, Y1 \
	VSHUFPS $0x44, Y11, Y9, Y2 \
	VSHUFPS $0xee, Y11, Y9, Y3 \
	VSHUFPS $0x44, Y14, Y12, Y4 \
	VSHUFPS $0xee, Y14, Y12, Y5 \
	VSHUFPS $0x44, Y15, Y13, Y6 \
	VSHUFPS $0xee, Y15, Y13, Y7 \
	VPERM2F128 $0x20, Y4, Y0, Y8 \
	VPERM2F128 $0x20, Y5, Y1, Y9 \
	VPERM2F128 $0x20, Y6, Y2, Y10 \
	VPERM2F128 $0x20, Y7, Y3, Y11 \
	VPERM2F128 $0x31, Y4, Y0, Y12 \
	VPERM2F128 $0x31, Y5, Y1, Y13 \
	VPERM2F128 $0x31, Y6, Y2, Y14 \
	VPERM2F128 $0x31, Y7, Y3, Y15 \
	LEAQ (D)(R14*4), DX \
	VMOVUPS Y8, off(D) \
	VMOVUPS Y9, off(D)(R14*1) \
	VMOVUPS Y10, off(D)(R14*2) \
	VMOVUPS Y11, off(D)(R11*1) \
	VMOVUPS Y12, off(DX) \
	VMOVUPS Y13, off(DX)(R14*1) \
	VMOVUPS Y14, off(DX)(R14*2) \
	VMOVUPS Y15, off(DX)(R11*1)

// func transpose8F32(n int, src *float32, lds int, dst *float32, ldd int)
//
// Transposes 8 rows of n values (row i at src[i*lds:]) into n rows of 8
// (dst[c*ldd+i] = src[i*lds+c]) for n a positive multiple of 8, eight
// columns at a time through an 8×8 register transpose.
TEXT ·transpose8F32(SB), NOSPLIT, $0-40
	MOVQ n+0(FP), CX
	MOVQ src+8(FP), SI
	MOVQ lds+16(FP), R8
	MOVQ dst+24(FP), DI
	MOVQ ldd+32(FP), R14
	SHLQ $2, R8
	SHLQ $2, R14
	LEAQ (R8)(R8*2), BX
	LEAQ (SI)(R8*4), R9
	LEAQ (R14)(R14*2), R11

tr8loop:
	TR8x8(SI, R9, DI, 0)
	LEAQ (DX)(R14*4), DI
	ADDQ $32, SI
	ADDQ $32, R9
	SUBQ $8, CX
	JNZ  tr8loop
	VZEROUPPER
	RET

// func transpose16F32(n int, src *float32, lds int, dst *float32, ldd int)
//
// transpose8F32 for 16 rows: each destination row gets its 16 values (a
// whole cache line when aligned) from two 8×8 transposes in a row.
TEXT ·transpose16F32(SB), NOSPLIT, $0-40
	MOVQ n+0(FP), CX
	MOVQ src+8(FP), SI
	MOVQ lds+16(FP), R8
	MOVQ dst+24(FP), DI
	MOVQ ldd+32(FP), R14
	SHLQ $2, R8
	SHLQ $2, R14
	LEAQ (R8)(R8*2), BX
	LEAQ (SI)(R8*4), R9
	LEAQ (R9)(R8*4), R10
	LEAQ (R10)(R8*4), R12
	LEAQ (R14)(R14*2), R11

tr16loop:
	TR8x8(SI, R9, DI, 0)
	TR8x8(R10, R12, DI, 32)
	LEAQ (DX)(R14*4), DI
	ADDQ $32, SI
	ADDQ $32, R9
	ADDQ $32, R10
	ADDQ $32, R12
	SUBQ $8, CX
	JNZ  tr16loop
	VZEROUPPER
	RET

// Lane indices of the even and odd elements of a pair of 16-float vectors.
DATA poolEvenIdx<>+0(SB)/8, $0x0000000200000000
DATA poolEvenIdx<>+8(SB)/8, $0x0000000600000004
DATA poolEvenIdx<>+16(SB)/8, $0x0000000a00000008
DATA poolEvenIdx<>+24(SB)/8, $0x0000000e0000000c
DATA poolEvenIdx<>+32(SB)/8, $0x0000001200000010
DATA poolEvenIdx<>+40(SB)/8, $0x0000001600000014
DATA poolEvenIdx<>+48(SB)/8, $0x0000001a00000018
DATA poolEvenIdx<>+56(SB)/8, $0x0000001e0000001c
GLOBL poolEvenIdx<>(SB), RODATA|NOPTR, $64

// POOLROW loads the 33 values from (R) needed by 16 windows of one row
// (window j reads R[2j], R[2j+1], R[2j+2]) and leaves column 0, 1 and 2
// of the 16 windows in A, B and C. Z31 holds the even lane indices, Z30
// the odd ones; Z9 is scratch.
#define POOLROW(R, A, B, C) \
	VMOVUPS (R), A \
	VMOVUPS (R), B \
	VMOVUPS 64(R), Z9 \
	VPERMT2PS Z9, Z31, A \
	VPERMT2PS Z9, Z30, B \
	VMOVUPS 8(R), C \
	VMOVUPS 72(R), Z9 \
	VPERMT2PS Z9, Z31, C

// func maxPool3x3s2F32(n int, r0, r1, r2, y *float32, arg *uint8)
//
// AVX-512 3×3 stride-2 max pooling of n outputs (a positive multiple of
// 16) from three input rows: y[j] is the maximum of r_i[2j+c] for i, c in
// 0..2 (NaN when any of them is NaN), and with arg not nil, arg[j] is the
// position i·3+c of the first of them (in that order) equal to y[j], 255
// when none is (a NaN window). It reads r_i[0 : 2n+2].
TEXT ·maxPool3x3s2F32(SB), NOSPLIT, $0-48
	MOVQ n+0(FP), CX
	MOVQ r0+8(FP), SI
	MOVQ r1+16(FP), R8
	MOVQ r2+24(FP), R9
	MOVQ y+32(FP), DI
	MOVQ arg+40(FP), DX
	VMOVUPS poolEvenIdx<>(SB), Z31
	MOVL $1, AX
	VPBROADCASTD AX, Z30
	VPADDD Z30, Z31, Z30
	MOVL $0x7fc00000, AX
	VPBROADCASTD AX, Z19
	MOVL $255, AX
	VPBROADCASTD AX, Z29
	MOVL $0, AX
	VPBROADCASTD AX, Z20
	MOVL $1, AX
	VPBROADCASTD AX, Z21
	MOVL $2, AX
	VPBROADCASTD AX, Z22
	MOVL $3, AX
	VPBROADCASTD AX, Z23
	MOVL $4, AX
	VPBROADCASTD AX, Z24
	MOVL $5, AX
	VPBROADCASTD AX, Z25
	MOVL $6, AX
	VPBROADCASTD AX, Z26
	MOVL $7, AX
	VPBROADCASTD AX, Z27
	MOVL $8, AX
	VPBROADCASTD AX, Z28

mploop:
	POOLROW(SI, Z0, Z1, Z2)
	POOLROW(R8, Z3, Z4, Z5)
	POOLROW(R9, Z6, Z7, Z8)
	VMAXPS Z1, Z0, Z10
	VMAXPS Z3, Z2, Z11
	VMAXPS Z5, Z4, Z12
	VMAXPS Z7, Z6, Z13
	VMAXPS Z11, Z10, Z10
	VMAXPS Z13, Z12, Z12
	VMAXPS Z12, Z10, Z10
	VMAXPS Z8, Z10, Z13
	// NaN lanes: any unordered pair.
	VCMPPS $3, Z1, Z0, K1
	VCMPPS $3, Z3, Z2, K2
	KORW K2, K1, K1
	VCMPPS $3, Z5, Z4, K2
	KORW K2, K1, K1
	VCMPPS $3, Z7, Z6, K2
	KORW K2, K1, K1
	VCMPPS $3, Z8, Z8, K2
	KORW K2, K1, K1
	VMOVAPS Z19, K1, Z13
	VMOVUPS Z13, (DI)
	TESTQ DX, DX
	JZ    mpnext
	// The first position equal to the maximum: set from last to first.
	VMOVDQA32 Z29, Z14
	VCMPPS $0, Z13, Z8, K1
	VMOVDQA32 Z28, K1, Z14
	VCMPPS $0, Z13, Z7, K1
	VMOVDQA32 Z27, K1, Z14
	VCMPPS $0, Z13, Z6, K1
	VMOVDQA32 Z26, K1, Z14
	VCMPPS $0, Z13, Z5, K1
	VMOVDQA32 Z25, K1, Z14
	VCMPPS $0, Z13, Z4, K1
	VMOVDQA32 Z24, K1, Z14
	VCMPPS $0, Z13, Z3, K1
	VMOVDQA32 Z23, K1, Z14
	VCMPPS $0, Z13, Z2, K1
	VMOVDQA32 Z22, K1, Z14
	VCMPPS $0, Z13, Z1, K1
	VMOVDQA32 Z21, K1, Z14
	VCMPPS $0, Z13, Z0, K1
	VMOVDQA32 Z20, K1, Z14
	VPMOVDB Z14, (DX)
	ADDQ $16, DX

mpnext:
	ADDQ $128, SI
	ADDQ $128, R8
	ADDQ $128, R9
	ADDQ $64, DI
	SUBQ $16, CX
	JNZ  mploop
	VZEROUPPER
	RET
