from django.apps import AppConfig


class DocumentsConfig(AppConfig):
    name = "documents"
    verbose_name = "Documents"

    def ready(self) -> None:
        from documents import signals, versions  # noqa: F401  (signals connects the access-change handlers)
        from documents.engine.hooks import hooks

        versions.subscribe(hooks)

        from documents import metrics

        metrics.install()  # the engine's instruments count for /metrics from here on

        from documents import checks  # noqa: F401  (registers the configuration's system checks)
