module github.com/certmint/certmint/tools/images/pause

go 1.26
