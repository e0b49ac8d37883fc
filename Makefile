# The README's commands. Each does its own set-up on a fresh machine: a virtual environment with
# the pinned packages, and Delta's JARs resolved by Maven into .cache/jars (both git-ignored).
PYTHON   ?= python3
VENV     := .venv
PY       := $(VENV)/bin/python
JARS_DIR := .cache/jars
STAMP    := $(VENV)/.installed
JARS_OK  := $(JARS_DIR)/.resolved
# spark-submit's launcher looks for pyspark with the first python3 on PATH: make it the venv's.
SPARK_SUBMIT = PATH="$(CURDIR)/$(VENV)/bin:$$PATH" PYSPARK_PYTHON="$(CURDIR)/$(PY)" \
	$(VENV)/bin/spark-submit --properties-file conf/spark-defaults.conf \
	--jars $$(ls $(JARS_DIR)/*.jar | paste -sd, -) \
	--driver-java-options "-Dlog4j2.configurationFile=file:$(CURDIR)/conf/log4j2.properties"

.PHONY: setup demo test bench lint clean

setup: $(STAMP) $(JARS_OK)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

$(JARS_OK): conf/jars/pom.xml
	@command -v mvn >/dev/null || { echo "Maven (mvn) is needed to fetch Delta's JARs: apt-get install maven" >&2; exit 1; }
	rm -rf $(JARS_DIR)
	mvn --batch-mode --quiet -f conf/jars/pom.xml dependency:copy-dependencies \
	    -DoutputDirectory=$(CURDIR)/$(JARS_DIR) -DincludeScope=runtime -DincludeGroupIds=io.delta \
	    -DexcludeArtifactIds=delta-kernel-unitycatalog \
	  || { echo "could not resolve Delta's JARs (io.delta:delta-spark_4.1_2.13, delta-storage) from Maven Central" >&2; exit 1; }
	touch $@

# The main job: a football feature pipeline under spark-submit; the feature store is left in
# .featurestore/ (override with FEATURESTORE_HOME).
demo: setup
	$(SPARK_SUBMIT) jobs/demo_pipeline.py

test: setup
	$(PY) -m pytest -q tests

bench: setup
	@echo "no benchmarks yet: they come with the online store"; exit 1

lint: setup
	$(PY) -m compileall -q featurestore_spark jobs tests

clean:
	rm -rf $(VENV) .cache .featurestore .pytest_cache
