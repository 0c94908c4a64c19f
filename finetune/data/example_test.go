package data_test

import (
	"context"
	"fmt"

	"github.com/graftml/graft/finetune/data"
	"github.com/graftml/graft/nn"
)

func ExampleLoader() {
	// Ten 1x2x2 "images" with labels 0,1,0,1,...
	x := nn.New(nn.Float32, 10, 1, 2, 2)
	labels := make([]int, 10)
	for i := range labels {
		labels[i] = i % 2
	}
	ds, _ := data.NewMemory(x, labels, []string{"even", "odd"})
	train, val, _ := data.Split(ds, 0.2, 1)
	aug, _ := data.ParseAugment("flip")
	l, _ := data.NewLoader(train, data.LoaderOptions{BatchSize: 3, Shuffle: true, Seed: 7, Augment: aug})
	for mb, err := range l.Epoch(context.Background(), 0) {
		if err != nil {
			panic(err)
		}
		fmt.Println(mb.Index, nn.ShapeString(mb.X.Shape))
	}
	fmt.Println(data.Summary(val))
	// Output:
	// 0 [3,1,2,2]
	// 1 [3,1,2,2]
	// 2 [2,1,2,2]
	// 2 samples, input [1,2,2], 2 classes (even 1, odd 1)
}
