package finetune

import (
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/graftml/graft/nn"
)

// nonLearnable lists input positions that hold float constants which are
// not weights (running statistics, resize scales, clip bounds, ...).
var nonLearnable = map[string][]int{
	"BatchNormalization": {3, 4},
	"Resize":             {1, 2, 3},
	"Upsample":           {1},
	"Clip":               {1, 2},
	"Pad":                {1, 2, 3},
	"Dropout":            {1, 2},
	"Pow":                {1},
	"Range":              {0, 1, 2},
	"ConstantOfShape":    {0},
	"Expand":             {1},
	"Reshape":            {1},
	"Tile":               {1},
	"Slice":              {1, 2, 3, 4},
}

// Learnable returns, in file order, the float parameters that act as
// weights: everything except running statistics and the like.
func Learnable(g *nn.Graph) []string {
	weightUse, otherUse := map[string]bool{}, map[string]bool{}
	for _, n := range g.Nodes {
		skip := map[int]bool{}
		for _, i := range nonLearnable[n.OpType] {
			skip[i] = true
		}
		for i, in := range n.Inputs {
			if g.Params[in] == nil {
				continue
			}
			if skip[i] {
				otherUse[in] = true
			} else {
				weightUse[in] = true
			}
		}
	}
	var out []string
	for _, name := range g.ParamNames {
		p := g.Params[name]
		if p.Value.DType == nn.Float32 && weightUse[name] && !otherUse[name] {
			out = append(out, name)
		}
	}
	return out
}

// Freezing is the outcome of a freeze spec: which learnable parameters
// train.
type Freezing struct {
	Trainable map[string]bool
	// Order lists the learnable parameters in file order.
	Order []string
}

// TrainableNames returns the trainable parameters in file order.
func (f *Freezing) TrainableNames() []string {
	var out []string
	for _, n := range f.Order {
		if f.Trainable[n] {
			out = append(out, n)
		}
	}
	return out
}

// ParseFreeze applies a comma-separated freeze spec to g. Terms, applied
// left to right:
//
//	all-but-head   only the classifier trains (the default)
//	none           everything trains (full fine-tune)
//	all            nothing trains (combine with train=)
//	until=NODE     freeze NODE and everything it depends on; the rest trains
//	last=N         the last N layers with parameters train
//	freeze=REGEX   freeze parameters whose name, or whose layer's name, matches
//	train=REGEX    unfreeze those
func ParseFreeze(g *nn.Graph, h *Head, spec string) (*Freezing, error) {
	f := &Freezing{Trainable: map[string]bool{}, Order: Learnable(g)}
	if len(f.Order) == 0 {
		return nil, fmt.Errorf("the model has no learnable parameters")
	}
	readers := map[string][]*nn.Node{}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			if g.Params[in] != nil {
				readers[in] = append(readers[in], n)
			}
		}
	}
	setAll := func(v bool) {
		for _, p := range f.Order {
			f.Trainable[p] = v
		}
	}
	if strings.TrimSpace(spec) == "" {
		spec = "all-but-head"
	}
	for _, term := range strings.Split(spec, ",") {
		term = strings.TrimSpace(term)
		key, val, hasVal := strings.Cut(term, "=")
		switch {
		case term == "all-but-head":
			if h == nil {
				return nil, fmt.Errorf("freeze %q: the model has no recognizable classifier head", term)
			}
			setAll(false)
			f.Trainable[h.Weight] = true
			if h.Bias != "" {
				f.Trainable[h.Bias] = true
			}
		case term == "none":
			setAll(true)
		case term == "all":
			setAll(false)
		case key == "until" && hasVal:
			anc, err := ancestors(g, val)
			if err != nil {
				return nil, fmt.Errorf("freeze %q: %w", term, err)
			}
			setAll(true)
			for _, p := range f.Order {
				if anc[p] {
					f.Trainable[p] = false
				}
			}
		case key == "last" && hasVal:
			k, err := strconv.Atoi(val)
			if err != nil || k < 1 {
				return nil, fmt.Errorf("freeze %q: want last=N with N >= 1", term)
			}
			setAll(false)
			learn := map[string]bool{}
			for _, p := range f.Order {
				learn[p] = true
			}
			for i := len(g.Nodes) - 1; i >= 0 && k > 0; i-- {
				found := false
				for _, in := range g.Nodes[i].Inputs {
					if learn[in] {
						f.Trainable[in] = true
						found = true
					}
				}
				if found {
					k--
				}
			}
		case (key == "freeze" || key == "train") && hasVal:
			re, err := regexp.Compile(val)
			if err != nil {
				return nil, fmt.Errorf("freeze %q: %v", term, err)
			}
			hits := 0
			for _, p := range f.Order {
				match := re.MatchString(p)
				for _, n := range readers[p] {
					match = match || re.MatchString(n.Name)
				}
				if match {
					f.Trainable[p] = key == "train"
					hits++
				}
			}
			if hits == 0 {
				return nil, fmt.Errorf("freeze %q: matches no parameter or layer", term)
			}
		default:
			return nil, fmt.Errorf("unknown freeze term %q (want all-but-head, none, all, until=NODE, last=N, freeze=REGEX or train=REGEX)", term)
		}
	}
	if len(f.TrainableNames()) == 0 {
		return nil, fmt.Errorf("freeze %q leaves no parameter to train", spec)
	}
	return f, nil
}

// ancestors returns every value the named node (or value) depends on,
// including its own outputs' inputs.
func ancestors(g *nn.Graph, name string) (map[string]bool, error) {
	prod := g.Producers()
	var start *nn.Node
	for _, n := range g.Nodes {
		if n.Name == name {
			start = n
		}
	}
	if start == nil {
		start = prod[name]
	}
	if start == nil {
		return nil, fmt.Errorf("no node or value called %q", name)
	}
	seen := map[string]bool{}
	stack := append([]string{}, start.Inputs...)
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if v == "" || seen[v] {
			continue
		}
		seen[v] = true
		if p := prod[v]; p != nil {
			stack = append(stack, p.Inputs...)
		}
	}
	return seen, nil
}

// ApplyBN marks nodes as frozen (nn.Node.Frozen) when all the learnable
// parameters they read are frozen, so their BatchNormalization runs on
// running statistics during training. mode "auto" follows the freezing,
// "frozen" freezes every BatchNormalization, "train" trains every one.
func ApplyBN(g *nn.Graph, f *Freezing, mode string) error {
	switch mode {
	case "", "auto", "frozen", "train":
	default:
		return fmt.Errorf("--bn %q: want auto, frozen or train", mode)
	}
	learn := map[string]bool{}
	for _, p := range f.Order {
		learn[p] = true
	}
	for _, n := range g.Nodes {
		any, trains := false, false
		for _, in := range n.Inputs {
			if learn[in] {
				any = true
				trains = trains || f.Trainable[in]
			}
		}
		n.Frozen = any && !trains
		if n.OpType == "BatchNormalization" {
			switch mode {
			case "frozen":
				n.Frozen = true
			case "train":
				n.Frozen = false
			}
		}
	}
	return nil
}

// WriteSummary prints, per layer with parameters, the trainable and frozen
// parameter counts, and the totals.
func WriteSummary(w io.Writer, g *nn.Graph, f *Freezing) {
	learn := map[string]bool{}
	for _, p := range f.Order {
		learn[p] = true
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "LAYER\tOP\tTRAINABLE\tFROZEN\tBN MODE\t")
	var tTot, fTot int
	seen := map[string]bool{}
	for _, n := range g.Nodes {
		var tr, fr int
		for _, in := range n.Inputs {
			if !learn[in] || seen[in] {
				continue
			}
			seen[in] = true
			c := g.Params[in].Value.Len()
			if f.Trainable[in] {
				tr += c
			} else {
				fr += c
			}
		}
		if tr+fr == 0 {
			continue
		}
		bn := ""
		if n.OpType == "BatchNormalization" {
			bn = "batch stats"
			if n.Frozen {
				bn = "running stats"
			}
		}
		name := n.Name
		if name == "" && len(n.Outputs) > 0 {
			name = n.Outputs[0]
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t\n", name, n.OpType, tr, fr, bn)
		tTot += tr
		fTot += fr
	}
	fmt.Fprintf(tw, "total\t\t%d\t%d\t\t\n", tTot, fTot)
	tw.Flush()
}
