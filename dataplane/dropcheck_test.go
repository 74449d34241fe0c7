package dataplane

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// TestDropReasonsComplete reads the dataplane's own source (go/parser) and
// fails when the enumeration of drop reasons and the code that drops drift
// apart: a reason without a name for `stats` and trace, a reason without a
// counter per port, a reason no code uses, or a drop verdict made without
// a reason (a Verdict literal that is a drop and names none, drop(DropNone),
// a counter for DropNone).
func TestDropReasonsComplete(t *testing.T) {
	fset := token.NewFileSet()
	files := map[string]*ast.File{}
	paths, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			t.Fatalf("parse %s: %v", p, err)
		}
		files[p] = f
	}
	if len(files) < 5 {
		t.Fatalf("parsed only %d files: run from the package directory", len(files))
	}

	// The enumeration: the const block of type DropReason, in order.
	var reasons []string
	for _, f := range files {
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST || len(g.Specs) == 0 {
				continue
			}
			if first := g.Specs[0].(*ast.ValueSpec); first.Type == nil || !isIdent(first.Type, "DropReason") {
				continue
			}
			for _, s := range g.Specs {
				for _, n := range s.(*ast.ValueSpec).Names {
					reasons = append(reasons, n.Name)
				}
			}
		}
	}
	if len(reasons) < 3 || reasons[0] != "DropNone" || reasons[len(reasons)-1] != "NumDropReasons" {
		t.Fatalf("the DropReason block should run from DropNone to NumDropReasons, found %v", reasons)
	}
	reasons = reasons[1 : len(reasons)-1]

	// Every reason has a name, and no two share one.
	names := map[string]string{} // reason -> name
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			vs, ok := n.(*ast.ValueSpec)
			if !ok || len(vs.Names) != 1 || vs.Names[0].Name != "dropNames" || len(vs.Values) != 1 {
				return true
			}
			cl, ok := vs.Values[0].(*ast.CompositeLit)
			if !ok {
				t.Fatalf("dropNames is not a composite literal")
			}
			if at, ok := cl.Type.(*ast.ArrayType); !ok || !isIdent(at.Len, "NumDropReasons") {
				t.Errorf("dropNames must be [NumDropReasons]string, so a new reason cannot go without a slot")
			}
			for _, e := range cl.Elts {
				kv, ok := e.(*ast.KeyValueExpr)
				if !ok {
					t.Errorf("dropNames element %s is not keyed by its reason", fset.Position(e.Pos()))
					continue
				}
				k, _ := kv.Key.(*ast.Ident)
				v, _ := kv.Value.(*ast.BasicLit)
				if k == nil || v == nil {
					t.Errorf("dropNames element %s: want Reason: \"name\"", fset.Position(e.Pos()))
					continue
				}
				names[k.Name] = strings.Trim(v.Value, `"`)
			}
			return false
		})
	}
	seen := map[string]string{}
	for _, r := range reasons {
		n, ok := names[r]
		switch {
		case !ok || n == "":
			t.Errorf("%s has no name in dropNames: `stats` and trace could not show it", r)
		case seen[n] != "":
			t.Errorf("%s and %s share the name %q", r, seen[n], n)
		}
		seen[n] = r
	}

	// A counter per port (and for the drops no port owns): arrays of
	// NumDropReasons counters, indexed by reason.
	counters := map[string]bool{}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok {
				return true
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				return true
			}
			for _, fl := range st.Fields.List {
				at, ok := fl.Type.(*ast.ArrayType)
				if !ok || len(fl.Names) != 1 || !isIdent(at.Len, "NumDropReasons") {
					continue
				}
				counters[ts.Name.Name+"."+fl.Names[0].Name] = true
			}
			return true
		})
	}
	for _, want := range []string{"PortStats.Drops", "Dataplane.drops"} {
		if !counters[want] {
			t.Errorf("%s is not an array of NumDropReasons counters: some reasons would have no counter", want)
		}
	}

	// Every reason is used by some code, outside its declaration and name.
	used := map[string]int{}
	for p, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.GenDecl:
				if x.Tok == token.CONST {
					return false // the declaration
				}
			case *ast.ValueSpec:
				if len(x.Names) == 1 && x.Names[0].Name == "dropNames" {
					return false
				}
			case *ast.FuncDecl:
				if x.Name.Name == "dropStage" && p == "trace.go" {
					return false // naming a stage is not dropping
				}
			case *ast.Ident:
				used[x.Name]++
			}
			return true
		})
	}
	for _, r := range reasons {
		if used[r] == 0 {
			t.Errorf("%s is never used: a reason nothing drops for is a reason `stats` always shows 0 for", r)
		}
	}

	// No drop without a reason.
	for _, f := range files {
		var stack []ast.Node
		ast.Inspect(f, func(n ast.Node) bool {
			if n == nil {
				stack = stack[:len(stack)-1]
				return true
			}
			stack = append(stack, n)
			switch x := n.(type) {
			case *ast.CallExpr:
				if isIdent(x.Fun, "drop") && len(x.Args) == 1 && isIdent(x.Args[0], "DropNone") {
					t.Errorf("%s: drop(DropNone): a drop must name its reason", fset.Position(x.Pos()))
				}
			case *ast.IndexExpr:
				if isIdent(x.Index, "DropNone") {
					if sel, ok := x.X.(*ast.SelectorExpr); ok && (sel.Sel.Name == "Drops" || sel.Sel.Name == "drops") {
						t.Errorf("%s: a drop counted under DropNone", fset.Position(x.Pos()))
					}
				}
			case *ast.CompositeLit:
				if !isIdent(x.Type, "Verdict") {
					return true
				}
				action, reason := "", ""
				for _, e := range x.Elts {
					kv, ok := e.(*ast.KeyValueExpr)
					if !ok {
						t.Errorf("%s: unkeyed Verdict literal: write its fields by name", fset.Position(x.Pos()))
						return true
					}
					k := kv.Key.(*ast.Ident).Name
					v := "expr"
					if id, ok := kv.Value.(*ast.Ident); ok {
						v = id.Name
					}
					switch k {
					case "Action":
						action = v
					case "Reason":
						reason = v
					}
				}
				isDrop := action == "" || action == "ActDrop" // ActDrop is the zero Action
				if !isDrop || (reason != "" && reason != "DropNone") {
					return true
				}
				if action == "" && len(x.Elts) == 0 && noVerdictReturn(stack) {
					return true // `return Verdict{}, false`: no verdict at all, the caller goes on
				}
				t.Errorf("%s: a drop Verdict without a reason: use drop(REASON)", fset.Position(x.Pos()))
			}
			return true
		})
	}

	// And trace names the stage of every reason.
	for r := DropReason(1); r < NumDropReasons; r++ {
		if r != DropInternal && dropStage(r) == StageInternal {
			t.Errorf("trace has no stage for drop reason %v (dropStage in trace.go)", r)
		}
	}
}

// noVerdictReturn reports a Verdict{} that is the first result of a return
// whose last result is the constant false: "no verdict, go on".
func noVerdictReturn(stack []ast.Node) bool {
	if len(stack) < 2 {
		return false
	}
	ret, ok := stack[len(stack)-2].(*ast.ReturnStmt)
	if !ok || len(ret.Results) < 2 || ret.Results[0] != stack[len(stack)-1] {
		return false
	}
	return isIdent(ret.Results[len(ret.Results)-1], "false")
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}
