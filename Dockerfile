# The Storyline image: the official Airflow 3.3 image plus our package, CPU torch and the
# bundled embedding model (no download at run time). docker-compose.yml builds and runs it.
ARG AIRFLOW_VERSION=3.3.2
ARG PYTHON_VERSION=3.11
FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION}

ARG AIRFLOW_VERSION
ARG TORCH_VERSION=2.13.0
# Any other torch source pulls a multi-GB CUDA build.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    STORYLINE_HOME=/opt/storyline/home

USER root
RUN mkdir -p /opt/storyline/src /opt/storyline/home \
    && chown -R airflow:0 /opt/storyline \
    && chmod -R g+rwX /opt/storyline
USER airflow

# torch first, on its own, so that installing the package finds it already satisfied.
RUN pip install --no-cache-dir "torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX_URL}"

COPY --chown=airflow:0 pyproject.toml README.md /opt/storyline/src/
COPY --chown=airflow:0 pipeline /opt/storyline/src/pipeline
# Pinning apache-airflow keeps the image's Airflow (and its providers) where they are.
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" /opt/storyline/src

COPY --chown=airflow:0 dags /opt/airflow/dags
COPY --chown=airflow:0 plugins /opt/airflow/plugins
