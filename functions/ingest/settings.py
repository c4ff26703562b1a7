"""Settings of the ingest function."""

from shared.settings import FunctionSettings


class IngestSettings(FunctionSettings):
    shops_table: str
    events_queue_url: str
