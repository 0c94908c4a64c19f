package finetune

import (
	"fmt"
	"math"

	"github.com/graftml/graft/nn"
)

// Loss turns a batch of model outputs into a scalar loss and its gradient
// with respect to those outputs.
type Loss interface {
	// Name is the flag value that selects the loss.
	Name() string
	// Compute returns the mean loss over the batch and dLoss/dOut. out is
	// [N, C] (logits) for classification; labels has N entries; targets
	// ([N, C] or [N]) is used by regression losses.
	Compute(out *nn.Tensor, labels []int, targets *nn.Tensor) (float64, *nn.Tensor, error)
}

// NewLoss returns the loss called name: "cross-entropy" (on logits, with
// optional label smoothing), "bce" (binary cross-entropy on logits, one
// output per class, multi-hot from labels) or "mse".
func NewLoss(name string, labelSmoothing float64) (Loss, error) {
	switch name {
	case "", "cross-entropy", "ce":
		if labelSmoothing < 0 || labelSmoothing >= 1 {
			return nil, fmt.Errorf("label smoothing %g: must be in [0, 1)", labelSmoothing)
		}
		return CrossEntropy{LabelSmoothing: labelSmoothing}, nil
	case "bce":
		return BCE{}, nil
	case "mse":
		return MSE{}, nil
	}
	return nil, fmt.Errorf("unknown loss %q (want cross-entropy, bce or mse)", name)
}

func rows(out *nn.Tensor) (n, c int, err error) {
	if out.DType != nn.Float32 {
		return 0, 0, fmt.Errorf("model output is %v, want float32", out.DType)
	}
	if len(out.Shape) == 0 {
		return 0, 0, fmt.Errorf("model output is a scalar")
	}
	n = out.Shape[0]
	if n == 0 {
		return 0, 0, fmt.Errorf("empty batch")
	}
	return n, out.Len() / n, nil
}

// CrossEntropy is softmax cross-entropy on logits, averaged over the batch.
// With LabelSmoothing ε the target puts 1-ε on the true class and ε/C on
// every class (PyTorch's definition).
type CrossEntropy struct{ LabelSmoothing float64 }

// Name implements Loss.
func (CrossEntropy) Name() string { return "cross-entropy" }

// Compute implements Loss.
func (l CrossEntropy) Compute(out *nn.Tensor, labels []int, _ *nn.Tensor) (float64, *nn.Tensor, error) {
	n, c, err := rows(out)
	if err != nil {
		return 0, nil, err
	}
	if len(labels) != n {
		return 0, nil, fmt.Errorf("%d labels for a batch of %d", len(labels), n)
	}
	grad := nn.New(nn.Float32, out.Shape...)
	eps := l.LabelSmoothing
	total := 0.0
	p := make([]float64, c)
	for i := 0; i < n; i++ {
		y := labels[i]
		if y < 0 || y >= c {
			return 0, nil, fmt.Errorf("label %d out of range for %d classes", y, c)
		}
		row := out.F32[i*c : (i+1)*c]
		mx := math.Inf(-1)
		for _, v := range row {
			mx = math.Max(mx, float64(v))
		}
		sum := 0.0
		for j, v := range row {
			p[j] = math.Exp(float64(v) - mx)
			sum += p[j]
		}
		logSum := math.Log(sum) + mx
		g := grad.F32[i*c : (i+1)*c]
		for j := range row {
			q := eps / float64(c)
			if j == y {
				q += 1 - eps
			}
			if q > 0 {
				total -= q * (float64(row[j]) - logSum)
			}
			g[j] = float32((p[j]/sum - q) / float64(n))
		}
	}
	return total / float64(n), grad, nil
}

// BCE is binary cross-entropy on logits (one sigmoid per output), with
// multi-hot targets taken from targets when given, else one-hot labels.
type BCE struct{}

// Name implements Loss.
func (BCE) Name() string { return "bce" }

// Compute implements Loss.
func (BCE) Compute(out *nn.Tensor, labels []int, targets *nn.Tensor) (float64, *nn.Tensor, error) {
	n, c, err := rows(out)
	if err != nil {
		return 0, nil, err
	}
	target := func(i, j int) float64 {
		if targets != nil {
			return targets.Float64At(i*c + j)
		}
		if labels[i] == j || (c == 1 && labels[i] == 1) {
			return 1
		}
		return 0
	}
	if targets == nil && len(labels) != n {
		return 0, nil, fmt.Errorf("%d labels for a batch of %d", len(labels), n)
	}
	grad := nn.New(nn.Float32, out.Shape...)
	total := 0.0
	m := float64(n * c)
	for i := 0; i < n; i++ {
		for j := 0; j < c; j++ {
			x := float64(out.F32[i*c+j])
			t := target(i, j)
			// log(1+exp(-|x|)) form is stable for large |x|.
			total += math.Max(x, 0) - x*t + math.Log1p(math.Exp(-math.Abs(x)))
			grad.F32[i*c+j] = float32((1/(1+math.Exp(-x)) - t) / m)
		}
	}
	return total / m, grad, nil
}

// MSE is the mean squared error against targets (regression heads).
type MSE struct{}

// Name implements Loss.
func (MSE) Name() string { return "mse" }

// Compute implements Loss.
func (MSE) Compute(out *nn.Tensor, _ []int, targets *nn.Tensor) (float64, *nn.Tensor, error) {
	if targets == nil || targets.Len() != out.Len() {
		return 0, nil, fmt.Errorf("mse needs one target per output value")
	}
	grad := nn.New(nn.Float32, out.Shape...)
	total := 0.0
	m := float64(out.Len())
	for i, v := range out.F32 {
		d := float64(v) - targets.Float64At(i)
		total += d * d
		grad.F32[i] = float32(2 * d / m)
	}
	return total / m, grad, nil
}
