"""The Stories pages shown in the Airflow UI: server-rendered HTML and the SVG timeline."""
