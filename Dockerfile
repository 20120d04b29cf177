# The worker/beat image for docker-compose.yml. PyPI's torch wheel carries its CUDA libraries,
# so the same image serves the CPU and the GPU worker.
FROM python:3.11-slim
WORKDIR /app
COPY requirements.lock .
RUN pip install --no-cache-dir -r requirements.lock
COPY . .
RUN pip install --no-cache-dir --no-deps -e .
USER nobody
