"""Copy the repo's templates/ and playbooks/ into the package so wheels carry them.

The repo keeps them at the top level (users edit them there, DESIGN "Layout"); the installed
package reads them as package data (portfleet/templates, portfleet/playbooks).
"""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).parent


class BuildWithData(build_py):
    def run(self) -> None:
        super().run()
        for name in ("templates", "playbooks"):
            src = ROOT / name
            dst = Path(self.build_lib) / "portfleet" / name
            if src.is_dir():
                if dst.exists():
                    shutil.rmtree(dst)
                shutil.copytree(src, dst)


setup(cmdclass={"build_py": BuildWithData})
