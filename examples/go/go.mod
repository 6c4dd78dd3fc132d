module example.com/permit-example

go 1.21
