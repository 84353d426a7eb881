# renkei — the two commands are `make run` and `make test`; both install what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)

.DEFAULT_GOAL := help
.PHONY: help run test check lint typecheck pytest system-packages bench exports clean

help: ## この一覧 (this list)
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -U pip wheel
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

run: $(STAMP) ## デモ自治体を登録して起動 (seed the demo municipality, then serve on http://127.0.0.1:8080)
	$(BIN)/renkei demo seed
	$(BIN)/renkei serve

test: check pytest ## 全テスト: ruff, mypy --strict, pytest on SQLite and PostgreSQL

check: lint typecheck ## 静的検査のみ (ruff + mypy --strict)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) system-packages
	$(BIN)/pytest

# What the tests drive for real and PyPI does not ship: PostgreSQL server binaries (the contract suite
# starts its own throwaway cluster), Chromium and CJK fonts (browser tests). Installed with apt when missing.
system-packages:
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || [ "$$RENKEI_TEST_PG" = skip ] || missing="$$missing postgresql-15"; \
	dpkg -s chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	dpkg -s fonts-noto-cjk >/dev/null 2>&1 || missing="$$missing fonts-noto-cjk"; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $$missing; \
	fi

bench: $(STAMP) ## ベンチマーク (each prints its figure as the last line)
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

exports: $(STAMP) ## 生成物を更新 (regenerate exports/ and docs/spec.md from the spec)
	rm -rf exports && $(BIN)/renkei spec export --to exports >/dev/null && mv exports/spec.md docs/spec.md

clean: ## 仮想環境とデータを削除 (remove .venv and var/)
	rm -rf $(VENV) var .mypy_cache .pytest_cache .ruff_cache .hypothesis
