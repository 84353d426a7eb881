"""The ``masterdata`` context: the integrated DB (統合DB) of each municipality on the deployment.

Per tenant (a 全国地方公共団体コード), the common 宛名 master of residents and the 住登外 master, with
bitemporal history (valid time: 異動日; recorded time: when the master learned it). It is fed by the hub's
住民異動通知 and 住登外者異動通知 events (:meth:`renkei.masterdata.service.MasterData.apply`) and read
by the tenant's own member systems (:class:`renkei.masterdata.access.MasterDataReader`).
See ``docs/masterdata.md``.
"""
