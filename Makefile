# cairn: the two set-up commands are `make demo` and `make test`.
.PHONY: deps build release demo test bench clean

deps:
	scripts/install-deps.sh

build: deps
	swift build

release: deps
	swift build -c release --product cairn

demo: release
	scripts/demo.sh

test: deps
	swift build --build-tests
	CAIRN=$(CURDIR)/.build/debug/cairn swift test --skip-build

bench: deps
	bench/run.sh

clean:
	rm -rf .build demo bench/work
