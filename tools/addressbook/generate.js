#!/usr/bin/env node
// Rebuild python/macrostrike/deploy/addressbook.json from the protocols' own npm packages.
//
//   mkdir -p /tmp/ab && cd /tmp/ab && npm init -y && npm install --ignore-scripts \
//     @bgd-labs/aave-address-book@4.44.22 @uniswap/sdk-core@7.19.4 \
//     @uniswap/smart-order-router@4.31.10 @chainlink/mcp-server@0.0.1-alpha.17 @ethersproject/address@5
//   node tools/addressbook/generate.js /tmp/ab/node_modules > python/macrostrike/deploy/addressbook.json
//
// Every address carries `source`: package@version and the export it was read from. An address no
// package gives (or gives ambiguously) is left out and listed under the chain's `missing`, never guessed.
'use strict';
const fs = require('fs');
const path = require('path');

const modules = path.resolve(process.argv[2] || 'node_modules');
const need = (name) => require(path.join(modules, name));
const version = (name) => JSON.parse(fs.readFileSync(path.join(modules, name, 'package.json'), 'utf8')).version;
const at = (name) => `${name}@${version(name)}`;

const AAVE = '@bgd-labs/aave-address-book';
const SDK = '@uniswap/sdk-core';
const SOR = '@uniswap/smart-order-router';
const CL = '@chainlink/mcp-server';
const aave = need(AAVE);
const sdk = need(SDK);
const sor = need(path.join(SOR, 'build/main/util/addresses.js'));

// chain id -> name, Ape network, Aave market / Chainlink module of the address book, Chainlink feed file and network
const CHAINS = {
  1: ['Ethereum mainnet', 'ethereum:mainnet', 'AaveV3Ethereum', 'ChainlinkEthereum', 'ethereum', 'ethereum-mainnet'],
  11155111: ['Sepolia', 'ethereum:sepolia', 'AaveV3Sepolia', null, 'ethereum', 'ethereum-sepolia'],
  42161: ['Arbitrum One', 'arbitrum:mainnet', 'AaveV3Arbitrum', 'ChainlinkArbitrum', 'arbitrum', 'arbitrum-mainnet'],
  8453: ['Base', 'base:mainnet', 'AaveV3Base', 'ChainlinkBase', 'base', 'base-mainnet'],
  137: ['Polygon PoS', 'polygon:mainnet', 'AaveV3Polygon', 'ChainlinkPolygon', 'polygon', 'polygon-mainnet'],
  43114: ['Avalanche C-Chain', 'avalanche:mainnet', 'AaveV3Avalanche', 'ChainlinkAvalanche', 'avalanche', 'avalanche-mainnet'],
  10: ['Optimism', 'optimism:mainnet', 'AaveV3Optimism', 'ChainlinkOptimism', 'optimism', 'optimism-mainnet'],
};
// token -> Aave ASSETS keys in order of preference (native USDC before bridged USDC.e; Avalanche's bridged .e tokens)
const TOKENS = { USDC: ['USDCn', 'USDC'], WBTC: ['WBTC', 'WBTCe'], WETH: ['WETH', 'WETHe'] };
const FEEDS = { 'BTC/USD': 'BTC__USD', 'ETH/USD': 'ETH__USD', 'USDC/USD': 'USDC__USD' };

// EIP-55 (ethers' getAddress): lower-case addresses of a package are checksummed; a mixed-case one with a
// wrong checksum (a typo in the package) throws instead of being written.
const { getAddress } = need('@ethersproject/address');
function entry(address, source) { return { address: getAddress(address), source }; }

function chainlinkFeeds(file, network) {
  const data = JSON.parse(fs.readFileSync(path.join(modules, CL, 'data/feeds', `${file}.json`), 'utf8'));
  const net = data.networks.find((n) => n.queryString === network);
  const out = {};
  for (const f of net ? net.feeds : []) (out[f.name.replace(/ /g, '')] ||= []).push(f.proxyAddress);
  return out;
}

function build(id) {
  const [name, network, aaveName, clName, clFile, clNet] = CHAINS[id];
  const out = { name, ape_network: network, missing: [] };
  const miss = (what, why) => out.missing.push({ what, why });
  const v2f = sdk.V2_FACTORY_ADDRESSES[id];
  const v2r = sdk.V2_ROUTER_ADDRESSES[id];
  if (v2f && v2r) {
    out.v2_dexes = [{ name: 'Uniswap V2', factory: entry(v2f, `${at(SDK)} V2_FACTORY_ADDRESSES[${id}]`),
      router: entry(v2r, `${at(SDK)} V2_ROUTER_ADDRESSES[${id}]`) }];
  } else miss('v2_dexes', `${at(SDK)} lists no Uniswap V2 factory/router for chain ${id}`);
  const v3 = {};
  const core = sdk.CHAIN_TO_ADDRESSES_MAP[id];
  if (core) v3.factory = entry(core.v3CoreFactoryAddress, `${at(SDK)} CHAIN_TO_ADDRESSES_MAP[${id}].v3CoreFactoryAddress`);
  if (sor.QUOTER_V2_ADDRESSES[id]) v3.quoter_v2 = entry(sor.QUOTER_V2_ADDRESSES[id], `${at(SOR)} QUOTER_V2_ADDRESSES[${id}]`);
  v3.swap_router02 = entry(sdk.SWAP_ROUTER_02_ADDRESSES(id), `${at(SDK)} SWAP_ROUTER_02_ADDRESSES(${id})`);
  for (const k of ['factory', 'quoter_v2']) if (!v3[k]) miss(`uniswap_v3.${k}`, 'not in the Uniswap packages');
  out.uniswap_v3 = v3;
  const market = aave[aaveName];
  if (market) {
    out.aave_v3 = { pool_addresses_provider: entry(market.POOL_ADDRESSES_PROVIDER, `${at(AAVE)} ${aaveName}.POOL_ADDRESSES_PROVIDER`) };
  } else miss('aave_v3', `${at(AAVE)} has no ${aaveName}`);
  out.tokens = {};
  for (const [symbol, keys] of Object.entries(TOKENS)) {
    const key = market && keys.find((k) => market.ASSETS[k]);
    if (key) out.tokens[symbol] = entry(market.ASSETS[key].UNDERLYING, `${at(AAVE)} ${aaveName}.ASSETS.${key}.UNDERLYING`);
    else miss(`tokens.${symbol}`, `not listed in ${at(AAVE)} ${aaveName}.ASSETS (tried ${keys.join(', ')})`);
  }
  const weth9 = sdk.WETH9[id];
  if (out.tokens.WETH && weth9 && weth9.symbol === 'WETH' && weth9.address.toLowerCase() !== out.tokens.WETH.address.toLowerCase()) {
    out.tokens.WETH.note = `differs from ${at(SDK)} WETH9[${id}] ${weth9.address} (Aave's market lists this token)`;
  }
  out.chainlink = {};
  const published = chainlinkFeeds(clFile, clNet);
  const named = clName && aave[clName];
  for (const [pair, key] of Object.entries(FEEDS)) {
    const candidates = published[pair] || [];
    if (named && named[key]) {
      const also = candidates.some((c) => c.toLowerCase() === named[key].toLowerCase()) ? ` (also in ${at(CL)} data/feeds/${clFile}.json ${clNet})` : '';
      out.chainlink[pair] = entry(named[key], `${at(AAVE)} ${clName}.${key}${also}`);
    } else if (candidates.length === 1) {
      out.chainlink[pair] = entry(candidates[0], `${at(CL)} data/feeds/${clFile}.json ${clNet} "${pair.replace('/', ' / ')}"`);
    } else {
      miss(`chainlink.${pair}`, candidates.length ? `${at(CL)} lists ${candidates.length} "${pair}" proxies on ${clNet} (${candidates.join(', ')}) and no package names the standard one`
        : `no "${pair}" feed on ${clNet} in ${at(CL)}`);
    }
  }
  // The gas token's USD feed where it is not ETH (the keeper prices gas with it): Polygon's POL (Chainlink's
  // feed is still named MATIC / USD), Avalanche's AVAX.
  const native = { 137: ['MATIC__USD', 'MATIC/USD'], 43114: ['AVAX__USD', 'AVAX/USD'] }[id];
  if (native && named && named[native[0]]) {
    const also = (published[native[1]] || []).some((c) => c.toLowerCase() === named[native[0]].toLowerCase())
      ? ` (also in ${at(CL)} data/feeds/${clFile}.json ${clNet})` : '';
    out.chainlink['NATIVE/USD'] = { ...entry(named[native[0]], `${at(AAVE)} ${clName}.${native[0]}${also}`), pair: native[1] };
  }
  return out;
}

const book = {
  schema: 1,
  generated_by: 'tools/addressbook/generate.js',
  packages: Object.fromEntries([AAVE, SDK, SOR, CL].map((p) => [p, version(p)])),
  chains: Object.fromEntries(Object.keys(CHAINS).map((id) => [id, build(Number(id))])),
};
process.stdout.write(JSON.stringify(book, null, 2) + '\n');
