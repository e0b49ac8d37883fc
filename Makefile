# The README's commands. Each does its own set-up on a fresh machine: a virtual environment with
# the pinned packages, and Delta's JARs resolved by Maven into .cache/jars (both git-ignored).
PYTHON   ?= python3
VENV     := .venv
PY       := $(VENV)/bin/python
JARS_DIR := .cache/jars
STAMP    := $(VENV)/.installed
JARS_OK  := $(JARS_DIR)/.resolved
# s3a:// (hadoop-aws and the AWS SDK modules it uses, ~9 MB): the tests' object storage
JARS_S3_DIR := .cache/jars-s3
JARS_S3_OK  := $(JARS_S3_DIR)/.resolved
# Spark's Kafka source (spark-sql-kafka-0-10, kafka-clients): streaming jobs and tests
JARS_KAFKA_DIR := .cache/jars-kafka
JARS_KAFKA_OK  := $(JARS_KAFKA_DIR)/.resolved
# Apache Kafka's broker (KRaft mode) for the streaming tests and benchmarks
KAFKA_JARS_OK  := .cache/kafka/jars/.resolved
# featurestore_spark's own JVM classes (jvm/: the TFRecord writer, a Spark DataSource V2),
# compiled against the venv's Spark into the JAR folder beside Delta's: every spark-submit,
# session and cluster that takes .cache/jars takes it
JVM_JAR := $(JARS_DIR)/featurestore-spark-jvm.jar
JVM_SRC := $(shell find jvm/src -type f)
# spark-submit's launcher looks for pyspark with the first python3 on PATH: make it the venv's.
SPARK_SUBMIT = PATH="$(CURDIR)/$(VENV)/bin:$$PATH" PYSPARK_PYTHON="$(CURDIR)/$(PY)" \
	$(VENV)/bin/spark-submit --properties-file conf/spark-defaults.conf \
	--jars $$(ls $(JARS_DIR)/*.jar | paste -sd, -) \
	--driver-java-options "-Dlog4j2.configurationFile=file:$(CURDIR)/conf/log4j2.properties"

# The MySQL the tests and benchmarks use: a project-local MariaDB on 127.0.0.1:3307 (installed,
# initialised in .cache/mariadb and started when nothing answers there), or any server you name:
#   make test MYSQL_HOST=db.example MYSQL_PORT=3306 MYSQL_USER=me MYSQL_PASSWORD=...
MYSQL_HOST     ?= 127.0.0.1
MYSQL_PORT     ?= 3307
MYSQL_USER     ?= featurestore
MYSQL_PASSWORD ?= featurestore-test
MYSQL_ENV = MYSQL_HOST="$(MYSQL_HOST)" MYSQL_PORT="$(MYSQL_PORT)" MYSQL_USER="$(MYSQL_USER)" \
	MYSQL_PASSWORD="$(MYSQL_PASSWORD)"

.PHONY: setup mysql s3 kafka chromium dist demo test bench lint clean

setup: $(STAMP) $(JARS_OK) $(JVM_JAR) $(JARS_S3_OK) $(JARS_KAFKA_OK)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

$(JARS_OK): conf/jars/pom.xml
	@command -v mvn >/dev/null || { echo "Maven (mvn) is needed to fetch Delta's JARs: apt-get install maven" >&2; exit 1; }
	rm -rf $(JARS_DIR)
	mvn --batch-mode --quiet -f conf/jars/pom.xml dependency:copy-dependencies \
	    -DoutputDirectory=$(CURDIR)/$(JARS_DIR) -DincludeScope=runtime -DincludeGroupIds=io.delta,org.mariadb.jdbc,org.xerial,org.apache.spark,org.tensorflow \
	    -DexcludeArtifactIds=delta-kernel-unitycatalog,snappy-java \
	  || { echo "could not resolve the JARs of conf/jars/pom.xml (io.delta:delta-spark_4.1_2.13, delta-storage, org.mariadb.jdbc:mariadb-java-client, org.xerial:sqlite-jdbc, org.apache.spark:spark-avro_2.13, org.tensorflow:tensorflow-hadoop) from Maven Central" >&2; exit 1; }
	touch $@

$(JVM_JAR): $(JVM_SRC) $(STAMP) $(JARS_OK)
	@command -v javac >/dev/null || { echo "a JDK (javac, jar) is needed to compile jvm/: apt-get install openjdk-17-jdk-headless" >&2; exit 1; }
	rm -rf .cache/jvm-classes
	javac --release 17 -Xlint:all,-path -Werror -d .cache/jvm-classes \
	    -cp "$$($(PY) -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')/jars/*" \
	    $(filter %.java,$(JVM_SRC))
	cp -r jvm/src/main/resources/. .cache/jvm-classes/
	jar cf $@ -C .cache/jvm-classes .

$(JARS_S3_OK): conf/jars/s3/pom.xml
	@command -v mvn >/dev/null || { echo "Maven (mvn) is needed to fetch the s3a JARs: apt-get install maven" >&2; exit 1; }
	rm -rf $(JARS_S3_DIR)
	mvn --batch-mode --quiet -f conf/jars/s3/pom.xml dependency:copy-dependencies \
	    -DoutputDirectory=$(CURDIR)/$(JARS_S3_DIR) -DincludeScope=runtime \
	  || { echo "could not resolve the s3a JARs of conf/jars/s3/pom.xml (org.apache.hadoop:hadoop-aws:3.4.2, software.amazon.awssdk:s3 and s3-transfer-manager 2.29.52) from Maven Central" >&2; exit 1; }
	touch $@

$(JARS_KAFKA_OK): conf/kafka/spark/pom.xml
	@command -v mvn >/dev/null || { echo "Maven (mvn) is needed to fetch Spark's Kafka JARs: apt-get install maven" >&2; exit 1; }
	rm -rf $(JARS_KAFKA_DIR)
	mvn --batch-mode --quiet -f conf/kafka/spark/pom.xml dependency:copy-dependencies \
	    -DoutputDirectory=$(CURDIR)/$(JARS_KAFKA_DIR) -DincludeScope=runtime \
	  || { echo "could not resolve the JARs of conf/kafka/spark/pom.xml (org.apache.spark:spark-sql-kafka-0-10_2.13:4.1.1) from Maven Central" >&2; exit 1; }
	touch $@

$(KAFKA_JARS_OK): conf/kafka/pom.xml
	@command -v mvn >/dev/null || { echo "Maven (mvn) is needed to fetch Kafka's broker: apt-get install maven" >&2; exit 1; }
	rm -rf .cache/kafka/jars
	mvn --batch-mode --quiet -f conf/kafka/pom.xml dependency:copy-dependencies \
	    -DoutputDirectory=$(CURDIR)/.cache/kafka/jars -DincludeScope=runtime \
	  || { echo "could not resolve the JARs of conf/kafka/pom.xml (org.apache.kafka:kafka_2.13:4.1.1) from Maven Central" >&2; exit 1; }
	touch $@

# The package as a zip for spark-submit --py-files (PySpark ships .zip files to executors, not
# wheels): see "On a cluster" in the README.
dist: $(STAMP)
	$(PY) -m featurestore_spark.packaging dist/featurestore_spark.zip

# The main jobs under spark-submit: a football feature pipeline, then a churn model's feature
# view (transformations, train/test split, a scikit-learn model, batch scoring, an online vector);
# the feature store is left in .featurestore/ (override with FEATURESTORE_HOME).
demo: setup
	$(SPARK_SUBMIT) jobs/demo_pipeline.py
	$(SPARK_SUBMIT) jobs/churn_pipeline.py

mysql:
	@$(MYSQL_ENV) conf/mariadb/server.sh ensure

# An S3-compatible server on 127.0.0.1:9010 (moto's, from PyPI) for the s3a:// tests.
s3: $(STAMP)
	@conf/s3/server.sh ensure

# A single-node Kafka broker (KRaft) on 127.0.0.1:9192 for the streaming tests: reused when one
# answers there, else started from .cache/kafka (conf/kafka/server.sh; `conf/kafka/server.sh stop`).
kafka: $(KAFKA_JARS_OK)
	@conf/kafka/server.sh ensure

# Debian's chromium and chromium-driver for the registry's browser test (installed once).
chromium:
	@conf/chromium/ensure.sh

# tests/e2e/test_cluster.py starts (and stops) a standalone Spark cluster itself:
# conf/spark-cluster/cluster.sh, a master and two workers on 127.0.0.1.
# The tests run in two processes (pytest-xdist, whole files to each: a file's module fixtures
# stay in one process): 19.6 min of pytest on 2 cores against 36-39 min in one
# (TEST_WORKERS=0). Tests of one process share its fs_home: never read a live SQLite file's
# bytes in a test (the close drops the process's locks on it: see test_online_mysql).
# The 30 slowest tests are listed at the end (make test must stay under 25 minutes on CI).
# A fatal error of a test process (see tests/conftest.py) ends the output with its thread.
TEST_WORKERS ?= 2
test: setup lint mysql s3 kafka chromium
	@$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=30 tests || { rc=$$?; \
	  for log in $$(grep -l "^Current thread" .cache/pytest-fatal*.log 2>/dev/null); do \
	  echo "--- a test process died: the thread that crashed ($$log):"; \
	  grep -m1 "^Fatal Python error" $$log; grep "^gc after" $$log | tail -1; \
	  grep -A10 "^Current thread" $$log; \
	  done; exit $$rc; }

# The benchmarks, each beside a baseline of the same run; their figures go to bench/RESULTS.md.
# online (bench/online_bench.py): lookups and sync against the MariaDB above, beside raw
# mysql-connector. query (bench/query_bench.py): point-in-time join beside a plain equi-join, and
# training dataset writes per format beside Spark's parquet writer (needs no MySQL).
# statistics (bench/statistics_bench.py): descriptive statistics and histograms beside
# df.summary(). views (bench/views_bench.py): feature vectors and train/test splits with
# transformation functions beside the same without (MariaDB). search (bench/search_bench.py):
# registry search on 2,000 feature groups x 50 features, SQLite and MariaDB (no Spark).
# pit (bench/pit_bench.py): point-in-time joins at scale, 10M labels on 3 groups of 10M rows
# written to parquet beside the equi-join, and a skewed run (one key holding 10% of the rows).
# One of them: make bench BENCH=online | query | statistics | views | search | stream | pit.
# Scale: BENCH_ROWS=20000 make bench (pit: BENCH_PIT_ROWS, BENCH_SKEW_ROWS).
BENCH ?= online query statistics views search stream pit
bench: setup $(if $(filter online views search stream,$(BENCH)),mysql) $(if $(filter stream,$(BENCH)),kafka)
	@$(if $(filter-out online query statistics views search stream pit,$(BENCH)),echo "BENCH=$(BENCH): name one of online query statistics views search stream pit" >&2; exit 2;) true
	$(if $(filter online,$(BENCH)),@set -a && . .cache/mysql.env && set +a && $(PY) bench/online_bench.py)
	$(if $(filter query,$(BENCH)),@$(PY) bench/query_bench.py)
	$(if $(filter statistics,$(BENCH)),@$(PY) bench/statistics_bench.py)
	$(if $(filter views,$(BENCH)),@$(PY) bench/views_bench.py)
	$(if $(filter search,$(BENCH)),@$(PY) bench/search_bench.py)
	$(if $(filter stream,$(BENCH)),@$(PY) bench/stream_bench.py)
	$(if $(filter pit,$(BENCH)),@$(PY) bench/pit_bench.py)

# ruff and mypy on the package (it ships py.typed); their settings are in pyproject.toml
lint: $(STAMP)
	$(PY) -m compileall -q featurestore_spark jobs tests
	$(VENV)/bin/ruff check --quiet featurestore_spark
	$(VENV)/bin/mypy featurestore_spark

clean:
	-conf/mariadb/server.sh stop
	-conf/s3/server.sh stop
	-conf/spark-cluster/cluster.sh stop
	rm -rf $(VENV) .cache .featurestore .pytest_cache dist
