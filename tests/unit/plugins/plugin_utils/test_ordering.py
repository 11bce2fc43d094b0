# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""unique_in_order: the one "each once, first occurrence first" of the inventory check and the
DR filters (the order their messages name hosts in)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.genesys_dr.framework.plugins.plugin_utils.ordering import unique_in_order


@pytest.mark.parametrize('items, wanted', [
    ([], []),
    (['b', 'a', 'b', 'c', 'a'], ['b', 'a', 'c']),
    ((h for h in ['db2', 'db1', 'db2']), ['db2', 'db1']),
    ([8888, 8888, 7000], [8888, 7000]),
    ([{'port': 1}, 'x', {'port': 1}, ['y'], ['y']], [{'port': 1}, 'x', ['y']]),
])
def test_each_item_once_in_the_order_first_seen(items, wanted):
    assert unique_in_order(items) == wanted


def test_the_input_is_left_as_it_was():
    items = ['a', 'b', 'a']
    unique_in_order(items)
    assert items == ['a', 'b', 'a']
