package metrics_test

import (
	"fmt"
	"os"

	"github.com/graftml/graft/finetune/metrics"
	"github.com/graftml/graft/nn"
)

func ExampleAccumulator() {
	acc, err := metrics.NewAccumulator(3, metrics.Options{})
	if err != nil {
		panic(err)
	}
	// Two batches of logits [N, 3] with their true classes. The numbers in
	// the output agree with scikit-learn (log_loss, classification_report).
	b1 := nn.FromFloat32([]float32{
		2, 0, 0,
		0, 3, 1,
		0, 2, 1,
	}, 3, 3)
	b2 := nn.FromFloat32([]float32{
		1, 0, 4,
		5, 0, 0,
	}, 2, 3)
	if err := acc.AddBatch(b1, []int{0, 1, 2}); err != nil {
		panic(err)
	}
	if err := acc.AddBatch(b2, []int{2, 1}); err != nil {
		panic(err)
	}
	rep, err := acc.Report([]string{"cat", "dog", "bird"})
	if err != nil {
		panic(err)
	}
	fmt.Printf("accuracy %.2f, loss %.4f\n", rep.Accuracy, rep.Loss)
	rep.WriteTableDigits(os.Stdout, 2)
	rep.WriteConfusionTable(os.Stdout)
	// Output:
	// accuracy 0.60, loss 1.3793
	//               precision    recall  f1-score   support
	//
	//          cat       0.50      1.00      0.67         1
	//          dog       0.50      0.50      0.50         2
	//         bird       1.00      0.50      0.67         2
	//
	//     accuracy                           0.60         5
	//    macro avg       0.67      0.67      0.61         5
	// weighted avg       0.70      0.60      0.60         5
	//
	//         loss                         1.3793         5
	//   true\pred  cat  dog  bird
	//         cat    1    0     0
	//         dog    1    1     0
	//        bird    0    1     1
}
