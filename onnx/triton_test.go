package onnx_test

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/graftml/graft/nn"
	"github.com/graftml/graft/onnx"
)

// pbNode is a value of the protobuf text format: a scalar (string, number
// or enum identifier) or a message with repeated fields.
type pbNode struct {
	Scalar string
	Fields map[string][]*pbNode
}

// pbParser reads the protobuf text format subset Triton configurations use:
// `name: value`, `name { ... }`, `name: { ... }`, lists `[ a, b ]` of
// scalars or messages, quoted strings, numbers, identifiers, # comments.
type pbParser struct {
	s   string
	pos int
}

func (p *pbParser) skip() {
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		switch {
		case c == '#':
			for p.pos < len(p.s) && p.s[p.pos] != '\n' {
				p.pos++
			}
		case unicode.IsSpace(rune(c)):
			p.pos++
		default:
			return
		}
	}
}

func (p *pbParser) peek() byte {
	p.skip()
	if p.pos >= len(p.s) {
		return 0
	}
	return p.s[p.pos]
}

func (p *pbParser) ident() (string, error) {
	p.skip()
	start := p.pos
	for p.pos < len(p.s) {
		c := rune(p.s[p.pos])
		if !(unicode.IsLetter(c) || unicode.IsDigit(c) || c == '_' || c == '-' || c == '.') {
			break
		}
		p.pos++
	}
	if start == p.pos {
		return "", fmt.Errorf("offset %d: expected a name or value, found %q", p.pos, p.s[p.pos:min(p.pos+10, len(p.s))])
	}
	return p.s[start:p.pos], nil
}

// message parses fields until end (0 for the top level, '}' inside braces).
func (p *pbParser) message(end byte) (*pbNode, error) {
	n := &pbNode{Fields: map[string][]*pbNode{}}
	for {
		c := p.peek()
		if c == end {
			if end != 0 {
				p.pos++
			}
			return n, nil
		}
		if c == 0 {
			return nil, fmt.Errorf("unexpected end of input")
		}
		name, err := p.ident()
		if err != nil {
			return nil, err
		}
		colon := false
		if p.peek() == ':' {
			p.pos++
			colon = true
		}
		vals, err := p.value(colon)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", name, err)
		}
		n.Fields[name] = append(n.Fields[name], vals...)
		if c := p.peek(); c == ',' || c == ';' {
			p.pos++
		}
	}
}

func (p *pbParser) value(colon bool) ([]*pbNode, error) {
	switch c := p.peek(); {
	case c == '{':
		p.pos++
		m, err := p.message('}')
		return []*pbNode{m}, err
	case c == '[':
		p.pos++
		var out []*pbNode
		for p.peek() != ']' {
			v, err := p.value(true)
			if err != nil {
				return nil, err
			}
			out = append(out, v...)
			if p.peek() == ',' {
				p.pos++
			}
		}
		p.pos++
		return out, nil
	case c == '"' && colon:
		start := p.pos
		p.pos++
		for p.pos < len(p.s) && p.s[p.pos] != '"' {
			if p.s[p.pos] == '\\' {
				p.pos++
			}
			p.pos++
		}
		p.pos++
		if p.pos > len(p.s) {
			return nil, fmt.Errorf("unterminated string")
		}
		s, err := strconv.Unquote(p.s[start:p.pos])
		return []*pbNode{{Scalar: s}}, err
	case colon:
		s, err := p.ident()
		return []*pbNode{{Scalar: s}}, err
	}
	return nil, fmt.Errorf("offset %d: expected ':' or '{'", p.pos)
}

func parsePbtxt(t *testing.T, s string) *pbNode {
	t.Helper()
	p := &pbParser{s: s}
	n, err := p.message(0)
	if err != nil {
		t.Fatalf("config.pbtxt does not parse: %v\n%s", err, s)
	}
	return n
}

func (n *pbNode) one(t *testing.T, field string) *pbNode {
	t.Helper()
	if len(n.Fields[field]) != 1 {
		t.Fatalf("field %s appears %d times, want once", field, len(n.Fields[field]))
	}
	return n.Fields[field][0]
}

func (n *pbNode) dims() []int {
	var out []int
	for _, d := range n.Fields["dims"] {
		v, _ := strconv.Atoi(d.Scalar)
		out = append(out, v)
	}
	return out
}

// TestTritonConfig writes the configuration of every test model, parses it
// back with an independent text-format reader and checks it against the
// model's declared interface.
func TestTritonConfig(t *testing.T) {
	models, _ := filepath.Glob(filepath.Join("..", "testdata", "models", "*.onnx"))
	for _, path := range models {
		g, err := onnx.LoadGraph(path)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(filepath.Base(path), ".onnx")
		c, err := onnx.NewTritonConfig(g, name, 16, "labels.txt")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		n := parsePbtxt(t, c.Text())
		if got := n.one(t, "name").Scalar; got != name {
			t.Errorf("%s: name %q", name, got)
		}
		if got := n.one(t, "platform").Scalar; got != "onnxruntime_onnx" {
			t.Errorf("%s: platform %q", name, got)
		}
		// The test models all have a symbolic batch axis.
		if got := n.one(t, "max_batch_size").Scalar; got != "16" {
			t.Errorf("%s: max_batch_size %s, want 16", name, got)
		}
		if _, ok := n.Fields["dynamic_batching"]; !ok {
			t.Errorf("%s: no dynamic_batching", name)
		}
		for _, side := range []struct {
			field string
			vs    []nn.ValueInfo
		}{{"input", g.Inputs}, {"output", g.Outputs}} {
			got := n.Fields[side.field]
			if len(got) != len(side.vs) {
				t.Fatalf("%s: %d %s entries, want %d", name, len(got), side.field, len(side.vs))
			}
			for i, v := range side.vs {
				e := got[i]
				want, _ := onnx.TritonDataType(v.DType)
				if e.one(t, "name").Scalar != v.Name || e.one(t, "data_type").Scalar != want {
					t.Errorf("%s: %s %d is %s %s, want %s %s", name, side.field, i, e.one(t, "name").Scalar, e.one(t, "data_type").Scalar, v.Name, want)
				}
				var wantDims []int
				for _, d := range v.Shape[1:] {
					if d.Param != "" {
						wantDims = append(wantDims, -1)
					} else {
						wantDims = append(wantDims, d.Value)
					}
				}
				if fmt.Sprint(e.dims()) != fmt.Sprint(wantDims) {
					t.Errorf("%s: %s %q dims %v, want %v", name, side.field, v.Name, e.dims(), wantDims)
				}
				hasLabels := len(e.Fields["label_filename"]) == 1 && e.one(t, "label_filename").Scalar == "labels.txt"
				if hasLabels != (side.field == "output" && i == 0) {
					t.Errorf("%s: %s %q label_filename present=%v", name, side.field, v.Name, hasLabels)
				}
			}
		}
	}
}

// TestTritonConfigFixedBatch: a model without a symbolic batch gets
// max_batch_size 0 and full dims; a [batch] output gets dims [1] with a
// reshape to a scalar.
func TestTritonConfigFixedBatch(t *testing.T) {
	g := &nn.Graph{
		Inputs:  []nn.ValueInfo{{Name: "x", DType: nn.Int64, HasShape: true, Shape: []nn.Dim{{Value: 1}, {Param: "seq"}}}},
		Outputs: []nn.ValueInfo{{Name: "y", DType: nn.Float16, HasShape: true, Shape: []nn.Dim{{Value: 1}, {Value: 3}}}},
	}
	c, err := onnx.NewTritonConfig(g, "fixed", 32, "")
	if err != nil {
		t.Fatal(err)
	}
	n := parsePbtxt(t, c.Text())
	if n.one(t, "max_batch_size").Scalar != "0" || n.Fields["dynamic_batching"] != nil {
		t.Errorf("fixed batch: %s", c.Text())
	}
	in, out := n.one(t, "input"), n.one(t, "output")
	if fmt.Sprint(in.dims()) != "[1 -1]" || in.one(t, "data_type").Scalar != "TYPE_INT64" ||
		fmt.Sprint(out.dims()) != "[1 3]" || out.one(t, "data_type").Scalar != "TYPE_FP16" || out.Fields["label_filename"] != nil {
		t.Errorf("fixed batch config:\n%s", c.Text())
	}
	g.Inputs[0].Shape = []nn.Dim{{Param: "N"}, {Value: 4}}
	g.Outputs[0].Shape = []nn.Dim{{Param: "N"}}
	c, err = onnx.NewTritonConfig(g, "scalar", 8, "")
	if err != nil {
		t.Fatal(err)
	}
	out = parsePbtxt(t, c.Text()).one(t, "output")
	if fmt.Sprint(out.dims()) != "[1]" || out.one(t, "reshape").Fields["shape"] != nil {
		t.Errorf("scalar output:\n%s", c.Text())
	}
	if _, err := onnx.NewTritonConfig(g, "a/b", 8, ""); err == nil {
		t.Error("a name with a slash was accepted")
	}
}
