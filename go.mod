module github.com/joyent/mname-balancer

go 1.26.0

require (
	github.com/illumos/go-kstat v0.0.0-20210513183136-173c9b0a9973
	github.com/miekg/dns v1.1.73
	github.com/rs/zerolog v1.35.1
	golang.org/x/net v0.57.0
	golang.org/x/sys v0.50.0
)

require (
	github.com/mattn/go-colorable v0.1.14 // indirect
	github.com/mattn/go-isatty v0.0.20 // indirect
	github.com/siebenmann/go-kstat v0.0.0-20210513183136-173c9b0a9973 // indirect
)
