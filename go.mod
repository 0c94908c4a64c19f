module github.com/graftml/graft

go 1.26
