"""dliconn: a Slack chat-ops bot for Huawei Cloud DLI enhanced datasource connections."""

__version__ = "0.1.0"
