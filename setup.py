"""Ships ``_featurestore_spark_preload.pth`` at the top of site-packages, in wheels and in editable
installs alike (everything else is in pyproject.toml): every Python of the environment then runs
``featurestore_spark_preload`` as it starts (see that module for why).

Python runs the .pth files of a folder in the order of their names. The leading underscore puts
this one after setuptools' ``__editable__.*`` hook (which makes the module importable in an
editable install) and before the lowercase names of other packages' hooks, which may import
hashlib (and so load the system's OpenSSL) first.
"""

import os

from setuptools import setup
from setuptools.command.build_py import build_py

PTH = "_featurestore_spark_preload.pth"


class build_py_with_pth(build_py):
    """build_py, plus the .pth at the root of the wheel. An editable wheel is made of the install
    folder (its build folder is thrown away), so in editable mode the .pth goes there."""

    def run(self) -> None:
        super().run()
        folder = (self.get_finalized_command("install").install_lib if self.editable_mode
                  else self.build_lib)
        self.copy_file(PTH, os.path.join(folder, PTH), preserve_mode=False)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        extra = [] if self.editable_mode else [os.path.join(self.build_lib, PTH)]
        return [*super().get_outputs(include_bytecode), *extra]

    def get_source_files(self) -> list[str]:
        return [*super().get_source_files(), PTH]


setup(cmdclass={"build_py": build_py_with_pth})
