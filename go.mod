module github.com/vmx-dev/vmx

go 1.26.8
