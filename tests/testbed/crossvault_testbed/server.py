"""Run the test bed: moto_server plus the AWS Backup extension and the control API."""

import argparse
import logging

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

from .control import TestbedApplication
from .install import install


def build_app() -> TestbedApplication:
    install()
    return TestbedApplication(DomainDispatcherApplication(create_backend_app))


def serve(host: str, port: int) -> None:
    server = make_server(host, port, build_app(), threaded=True)
    logging.getLogger("crossvault_testbed").info("serving on http://%s:%d", host, server.server_port)
    server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5123)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    serve(args.host, args.port)
