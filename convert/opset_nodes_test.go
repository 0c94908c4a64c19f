package convert

import (
	"path/filepath"
	"testing"

	"github.com/graftml/graft/nn"
	"github.com/graftml/graft/onnx"
	"github.com/graftml/graft/onnx/onnxpb"
)

func opsetInts(name string, v ...int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_INTS, Ints: v}
}

func opsetFloats(name string, v ...float32) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_FLOATS, Floats: v}
}

func opsetStr(name, v string) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_STRING, S: []byte(v)}
}

func (s *synth) opsetI64(name string, v ...int64) {
	s.m.Graph.Initializer = append(s.m.Graph.Initializer, onnx.TensorToProto(name, int64Tensor(v)))
}

func (s *synth) opsetF32(name string, shape []int, v ...float32) {
	t := nn.New(nn.Float32, shape...)
	copy(t.F32, v)
	s.m.Graph.Initializer = append(s.m.Graph.Initializer, onnx.TensorToProto(name, t))
}

// opsetChain saves the model and converts it through the targets in turn
// (each step verified in graft, onnxruntime and onnx.checker); the last
// file must compute what the first does. It returns the last graph.
func opsetChain(t *testing.T, s *synth, targets ...int) *nn.Graph {
	t.Helper()
	in := filepath.Join(t.TempDir(), "in.onnx")
	opsetOutputShapes(t, s)
	if err := onnx.Save(in, s.m); err != nil {
		t.Fatal(err)
	}
	file := in
	for _, v := range targets {
		file = opsetFile(t, file, v)
	}
	compareFiles(t, in, file)
	g, err := onnx.LoadGraph(file)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// opsetOutputShapes declares the output shapes (onnx.checker wants them)
// from a graft run, the leading dimension symbolic.
func opsetOutputShapes(t *testing.T, s *synth) {
	t.Helper()
	g, err := onnx.Import(s.m, onnx.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	feed, err := RandomInputs(g, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	out, err := g.Run(nil, feed)
	if err != nil {
		t.Fatal(err)
	}
	for _, vi := range s.m.Graph.Output {
		v := out[vi.GetName()]
		tt := vi.GetType().GetTensorType()
		sh := &onnxpb.TensorShapeProto{}
		for i, d := range v.Shape {
			dim := &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)}}
			if i == 0 {
				dim.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "N"}
			}
			sh.Dim = append(sh.Dim, dim)
		}
		tt.Shape = sh
	}
}

type opsetCase struct {
	name    string
	src     int64
	targets []int
	build   func(s *synth)
	check   func(t *testing.T, g *nn.Graph)
}

func opsetHas(t *testing.T, g *nn.Graph, want string) {
	t.Helper()
	if got := opTypes(g); got != want {
		t.Errorf("nodes %q, want %q", got, want)
	}
}

func TestOpsetNodes(t *testing.T) {
	cases := []opsetCase{
		{"squeeze-attr", 11, []int{13, 21, 11}, func(s *synth) {
			s.input("x", 1, 3, 4)
			s.node("Unsqueeze", "u", []string{"x"}, []string{"a"}, opsetInts("axes", 1, -1))
			s.node("Squeeze", "q", []string{"a"}, []string{"y"}, opsetInts("axes", 1))
			s.node("Squeeze", "q2", []string{"a"}, []string{"z"})
			s.output("y")
			s.output("z")
		}, func(t *testing.T, g *nn.Graph) {
			if !g.Nodes[0].HasAttr("axes") || len(g.Nodes[0].Inputs) != 1 {
				t.Errorf("Unsqueeze back at 11: %v %v", g.Nodes[0].Inputs, g.Nodes[0].AttrOrder)
			}
		}},
		{"squeeze-input", 13, []int{11, 17}, func(s *synth) {
			s.input("x", 1, 3, 4)
			s.opsetI64("ax", 0, 3)
			s.opsetI64("ax2", 3)
			s.node("Unsqueeze", "u", []string{"x", "ax"}, []string{"a"})
			s.node("Squeeze", "q", []string{"a", "ax2"}, []string{"y"})
			s.output("y")
		}, nil},
		{"reducesum", 11, []int{13, 11}, func(s *synth) {
			s.input("x", 1, 3, 4)
			s.node("ReduceSum", "r", []string{"x"}, []string{"y"}, opsetInts("axes", 1), intAttr("keepdims", 0))
			s.node("ReduceSum", "r2", []string{"x"}, []string{"z"})
			s.output("y")
			s.output("z")
		}, nil},
		{"reducesum-input", 13, []int{11, 21}, func(s *synth) {
			s.input("x", 1, 3, 4)
			s.opsetI64("ax", -1, 1)
			s.m.Graph.Initializer = append(s.m.Graph.Initializer, onnx.TensorToProto("none", nn.New(nn.Int64, 0)))
			s.node("ReduceSum", "r", []string{"x", "ax"}, []string{"y"})
			s.node("ReduceSum", "r2", []string{"x", "none"}, []string{"z"}, intAttr("keepdims", 0))
			s.output("y")
			s.output("z")
		}, nil},
		{"reduce-18", 13, []int{18, 21, 17, 13}, func(s *synth) {
			s.input("x", 1, 3, 4)
			for _, op := range []string{"ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSumExp", "ReduceSumSquare"} {
				s.node(op, op, []string{"x"}, []string{op + "_y"}, opsetInts("axes", 2))
				s.output(op + "_y")
			}
			s.node("Abs", "abs", []string{"x"}, []string{"ax"})
			s.node("ReduceLogSum", "ls", []string{"ax"}, []string{"ls_y"}, opsetInts("axes", 1, 2), intAttr("keepdims", 0))
			s.output("ls_y")
		}, func(t *testing.T, g *nn.Graph) {
			if !g.Nodes[0].HasAttr("axes") {
				t.Errorf("%s has no axes attribute at 13", g.Nodes[0].Label())
			}
		}},
		{"reduce-input-18", 18, []int{13}, func(s *synth) {
			s.input("x", 1, 3, 4)
			s.opsetI64("ax", 1)
			s.node("ReduceMean", "m", []string{"x", "ax"}, []string{"y"})
			s.node("ReduceMax", "mx", []string{"x"}, []string{"z"}, intAttr("noop_with_empty_axes", 0))
			s.output("y")
			s.output("z")
		}, func(t *testing.T, g *nn.Graph) {
			if len(g.Nodes[0].Inputs) != 1 || g.Nodes[0].AttrInts("axes", nil)[0] != 1 || g.Nodes[1].HasAttr("noop_with_empty_axes") {
				t.Errorf("reductions at 13: %v %v, %v", g.Nodes[0].Inputs, g.Nodes[0].AttrOrder, g.Nodes[1].AttrOrder)
			}
			if len(g.Params) != 0 {
				t.Errorf("parameters left: %v", g.ParamNames)
			}
		}},
		{"split-attr", 11, []int{13, 18, 21, 13, 11}, func(s *synth) {
			s.input("x", 1, 6, 4)
			s.node("Split", "sp", []string{"x"}, []string{"a", "b"}, intAttr("axis", 1), opsetInts("split", 2, 4))
			s.node("Split", "eq", []string{"x"}, []string{"c", "d", "e"}, intAttr("axis", 1))
			for _, o := range []string{"a", "b", "c", "d", "e"} {
				s.output(o)
			}
		}, nil},
		{"split-num-outputs", 18, []int{13, 11}, func(s *synth) {
			s.input("x", 1, 7, 4)
			s.node("Split", "sp", []string{"x"}, []string{"a", "b", "c"}, intAttr("axis", 1), intAttr("num_outputs", 3))
			s.node("Split", "ev", []string{"x"}, []string{"d", "e"}, intAttr("axis", -1), intAttr("num_outputs", 2))
			for _, o := range []string{"a", "b", "c", "d", "e"} {
				s.output(o)
			}
		}, func(t *testing.T, g *nn.Graph) {
			if got := g.Nodes[0].AttrInts("split", nil); len(got) != 3 || got[0] != 3 || got[2] != 1 || len(g.Nodes[0].Inputs) != 1 {
				t.Errorf("uneven num_outputs split at 11: %v, inputs %v", got, g.Nodes[0].Inputs)
			}
			if g.Nodes[1].HasAttr("split") || g.Nodes[1].HasAttr("num_outputs") {
				t.Errorf("even split has attributes %v", g.Nodes[1].AttrOrder)
			}
		}},
		{"clip-pad-attrs", 10, []int{13, 21, 11}, func(s *synth) {
			s.input("x", 1, 3, 4)
			s.node("Clip", "c", []string{"x"}, []string{"a"}, floatAttr("min", -0.5), floatAttr("max", 0.7))
			s.node("Clip", "c2", []string{"x"}, []string{"b"}, floatAttr("max", 0.2))
			s.node("Pad", "p", []string{"a"}, []string{"y"}, opsetInts("pads", 0, 1, 2, 0, 0, 1), floatAttr("value", 1.5))
			s.node("Pad", "p2", []string{"b"}, []string{"z"}, opsetInts("pads", 0, 0, 2, 0, 0, 1), opsetStr("mode", "reflect"))
			s.output("y")
			s.output("z")
		}, nil},
		{"pad-axes", 18, []int{13, 21}, func(s *synth) {
			s.input("x", 1, 3, 4)
			s.opsetI64("pads", 1, 2, 0, 3)
			s.opsetI64("axes", -1, 1)
			s.opsetF32("v", []int{}, 0.25)
			s.node("Pad", "p", []string{"x", "pads", "v", "axes"}, []string{"y"})
			s.output("y")
		}, nil},
		{"resize-13", 13, []int{11, 21, 13}, func(s *synth) {
			s.input("x", 1, 2, 3, 4)
			s.opsetF32("sc", []int{4}, 1, 1, 2, 1.5)
			s.opsetI64("sz", 2, 2, 5, 7) // the verification batch is 2
			s.node("Resize", "r", []string{"x", "", "sc"}, []string{"y"}, opsetStr("mode", "linear"))
			s.node("Resize", "r2", []string{"x", "", "sc"}, []string{"z"}, opsetStr("mode", "nearest"),
				opsetStr("coordinate_transformation_mode", "asymmetric"), opsetStr("nearest_mode", "floor"))
			s.node("Resize", "r3", []string{"y", "", "", "sz"}, []string{"w"}, opsetStr("mode", "cubic"))
			s.output("z")
			s.output("w")
		}, nil},
		{"resize-18", 18, []int{13, 11}, func(s *synth) {
			s.input("x", 1, 2, 3, 4)
			s.opsetF32("sc", []int{4}, 1, 1, 2, 2)
			s.node("Resize", "r", []string{"x", "", "sc"}, []string{"y"}, opsetStr("mode", "linear"),
				intAttr("antialias", 0), opsetStr("keep_aspect_ratio_policy", "stretch"))
			s.output("y")
		}, nil},
		{"upsample-9", 9, []int{13, 11}, func(s *synth) {
			s.input("x", 1, 2, 3, 4)
			s.opsetF32("sc", []int{4}, 1, 1, 2, 3)
			s.node("Upsample", "u", []string{"x", "sc"}, []string{"y"})
			s.node("Upsample", "u2", []string{"x", "sc"}, []string{"z"}, opsetStr("mode", "linear"))
			s.output("y")
			s.output("z")
		}, func(t *testing.T, g *nn.Graph) { opsetHas(t, g, "Resize Resize") }},
		{"resize-10", 10, []int{11, 13}, func(s *synth) {
			s.input("x", 1, 2, 3, 4)
			s.opsetF32("sc", []int{4}, 1, 1, 2, 1.5)
			s.node("Resize", "r", []string{"x", "sc"}, []string{"y"})
			s.node("Resize", "r2", []string{"x", "sc"}, []string{"z"}, opsetStr("mode", "linear"))
			s.output("y")
			s.output("z")
		}, nil},
		{"slice-9", 9, []int{11, 13}, func(s *synth) {
			s.input("x", 1, 6, 5)
			s.node("Slice", "sl", []string{"x"}, []string{"a"}, opsetInts("starts", 1, 0), opsetInts("ends", 5, -1), opsetInts("axes", 1, 2))
			s.node("Slice", "sl2", []string{"x"}, []string{"b"}, opsetInts("starts", 0, 2), opsetInts("ends", 1, 4))
			s.output("a")
			s.output("b")
		}, nil},
		{"upsample-7", 7, []int{13}, func(s *synth) {
			s.input("x", 1, 2, 3, 4)
			s.node("Upsample", "u", []string{"x"}, []string{"y"}, opsetFloats("scales", 1, 1, 2, 2))
			s.output("y")
		}, func(t *testing.T, g *nn.Graph) { opsetHas(t, g, "Resize") }},
		{"layernorm", 17, []int{13, 17, 11}, func(s *synth) {
			s.input("x", 1, 3, 8)
			s.weight("g", false, 8)
			s.weight("b", false, 8)
			s.weight("g2", false, 3, 8)
			s.node("LayerNormalization", "ln", []string{"x", "g", "b"}, []string{"y"}, floatAttr("epsilon", 1e-3))
			s.node("LayerNormalization", "ln2", []string{"x", "g2"}, []string{"z"}, intAttr("axis", 1))
			s.output("y")
			s.output("z")
		}, func(t *testing.T, g *nn.Graph) {
			for _, n := range g.Nodes {
				if n.OpType == "LayerNormalization" {
					t.Errorf("%s left", n.Label())
				}
			}
		}},
		{"gelu", 20, []int{13, 17}, func(s *synth) {
			s.input("x", 1, 3, 8)
			s.node("Gelu", "g", []string{"x"}, []string{"y"})
			s.node("Gelu", "g2", []string{"x"}, []string{"z"}, opsetStr("approximate", "tanh"))
			s.output("y")
			s.output("z")
		}, nil},
		{"batchnorm-15", 15, []int{13, 11, 21}, func(s *synth) {
			s.input("x", 1, 3, 4, 4)
			s.bn("bn", "x", "y", 3)
			s.m.Graph.Node[0].Attribute = append(s.m.Graph.Node[0].Attribute, intAttr("training_mode", 0))
			s.output("y")
		}, nil},
		{"batchnorm-7", 7, []int{13}, func(s *synth) {
			s.input("x", 1, 3, 4, 4)
			s.bn("bn", "x", "y", 3)
			s.m.Graph.Node[0].Attribute = append(s.m.Graph.Node[0].Attribute, intAttr("spatial", 1))
			s.output("y")
		}, nil},
		{"softmax-13", 13, []int{11, 21, 13}, func(s *synth) {
			s.input("x", 1, 3, 5)
			s.input("x1", 1, 4, 1)
			s.node("Softmax", "sm", []string{"x"}, []string{"a"})
			s.node("LogSoftmax", "lsm", []string{"x"}, []string{"b"}, intAttr("axis", 2))
			s.node("Hardmax", "hm", []string{"x1"}, []string{"c"}, intAttr("axis", 1))
			s.output("a")
			s.output("b")
			s.output("c")
		}, nil},
		{"softmax-11", 11, []int{13, 11}, func(s *synth) {
			s.input("x", 1, 3, 5)
			s.input("x2", 1, 6)
			s.input("x3", 1, 3, 1, 5)
			s.node("Softmax", "sm", []string{"x"}, []string{"a"}, intAttr("axis", 2))
			s.node("LogSoftmax", "lsm", []string{"x2"}, []string{"b"})
			s.node("Hardmax", "hm", []string{"x3"}, []string{"c"}, intAttr("axis", 2))
			s.output("a")
			s.output("b")
			s.output("c")
		}, nil},
		{"softmax-rewrite-13", 13, []int{11, 13}, func(s *synth) {
			s.input("x", 1, 3, 5)
			s.node("Softmax", "sm", []string{"x"}, []string{"a"}, intAttr("axis", 1))
			s.node("Hardmax", "hm", []string{"x"}, []string{"b"}, intAttr("axis", 0))
			s.output("a")
			s.output("b")
		}, func(t *testing.T, g *nn.Graph) {
			opsetHas(t, g, "Transpose Softmax Transpose Transpose Hardmax Transpose")
		}},
		{"softmax-rewrite-11", 11, []int{13, 21, 11}, func(s *synth) {
			s.input("x", 1, 3, 5)
			s.node("LogSoftmax", "lsm", []string{"x"}, []string{"a"})
			s.node("Softmax", "sm", []string{"x"}, []string{"b"}, intAttr("axis", 0))
			s.output("a")
			s.output("b")
		}, nil},
		{"dropout", 11, []int{13, 11}, func(s *synth) {
			s.input("x", 1, 3, 5)
			s.node("Dropout", "d", []string{"x"}, []string{"y"}, floatAttr("ratio", 0.3))
			s.output("y")
		}, nil},
		{"dropout-13", 13, []int{11}, func(s *synth) {
			s.input("x", 1, 3, 5)
			s.opsetF32("r", []int{}, 0.2)
			tm := nn.New(nn.Bool)
			s.m.Graph.Initializer = append(s.m.Graph.Initializer, onnx.TensorToProto("tm", tm))
			s.node("Dropout", "d", []string{"x", "r", "tm"}, []string{"y"})
			s.output("y")
		}, nil},
		{"castlike", 15, []int{13, 17}, func(s *synth) {
			s.input("x", 1, 3, 5)
			s.m.Graph.Initializer = append(s.m.Graph.Initializer, onnx.TensorToProto("like", nn.New(nn.Int64, 1)))
			s.node("CastLike", "cl", []string{"x", "like"}, []string{"i"})
			s.node("Cast", "c", []string{"i"}, []string{"y"}, intAttr("to", int64(nn.Float32)))
			s.output("y")
		}, func(t *testing.T, g *nn.Graph) { opsetHas(t, g, "Cast Cast") }},
		{"cast-19", 19, []int{13}, func(s *synth) {
			s.input("x", 1, 3, 5)
			s.node("Cast", "c", []string{"x"}, []string{"i"}, intAttr("to", int64(nn.Int32)), intAttr("saturate", 1))
			s.node("Cast", "c2", []string{"i"}, []string{"y"}, intAttr("to", int64(nn.Float32)))
			s.output("y")
		}, nil},
		{"constant-12", 13, []int{11, 13}, func(s *synth) {
			s.input("x", 1, 3)
			s.node("Constant", "k", nil, []string{"k"}, opsetFloats("value_floats", 1, 2, 3))
			s.node("Constant", "k2", nil, []string{"k2"}, &onnxpb.AttributeProto{Name: "value_float", Type: onnxpb.AttributeProto_FLOAT, F: 2})
			s.node("Add", "a", []string{"x", "k"}, []string{"a"})
			s.node("Mul", "m", []string{"a", "k2"}, []string{"y"})
			s.output("y")
		}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newSynth(c.src)
			c.build(s)
			g := opsetChain(t, s, c.targets...)
			if c.check != nil {
				c.check(t, g)
			}
		})
	}
}
