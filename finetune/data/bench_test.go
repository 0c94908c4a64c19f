package data

import (
	"context"
	"path/filepath"
	"testing"
)

// benchFolder writes n 500x375 JPEGs (a typical photo dataset size).
func benchFolder(b *testing.B, n int) string {
	root := b.TempDir()
	for i := range n {
		writeImage(b, filepath.Join(root, []string{"a", "b"}[i%2], string(rune('a'+i))+".jpg"), patternRGB(500, 375))
	}
	return root
}

// BenchmarkImagePipeline decodes, resizes (to 256), centre-crops (224) and
// normalizes one JPEG.
func BenchmarkImagePipeline(b *testing.B) {
	root := benchFolder(b, 2)
	f, err := OpenImageFolder(root, FolderOptions{ImageOptions: ImageOptions{Norm: NormImageNet()}})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, _, err := f.Get(i % 2); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkImageAugment is the training path (random resized crop, flip).
func BenchmarkImageAugment(b *testing.B) {
	root := benchFolder(b, 2)
	f, err := OpenImageFolder(root, FolderOptions{ImageOptions: ImageOptions{Norm: NormImageNet()}})
	if err != nil {
		b.Fatal(err)
	}
	aug := &Augment{RRC: true, Flip: true}
	for i := 0; b.Loop(); i++ {
		if _, _, err := f.GetAugmented(i%2, aug, SampleRNG(1, 0, i)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoader measures batches of 32 through the Loader (parallel
// decoding).
func BenchmarkLoader(b *testing.B) {
	root := benchFolder(b, 32)
	f, err := OpenImageFolder(root, FolderOptions{ImageOptions: ImageOptions{Norm: NormImageNet()}})
	if err != nil {
		b.Fatal(err)
	}
	l, err := NewLoader(f, LoaderOptions{BatchSize: 32, Shuffle: true})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; b.Loop(); i++ {
		for _, err := range l.Epoch(context.Background(), i) {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}
