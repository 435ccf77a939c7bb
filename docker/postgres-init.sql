-- one server, one database per service (docker-compose.yml mounts this into /docker-entrypoint-initdb.d)
CREATE DATABASE airflow;
CREATE DATABASE optuna;
CREATE DATABASE mlflow;
